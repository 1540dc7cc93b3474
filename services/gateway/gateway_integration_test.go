//go:build integration

package gateway_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/gatewaytest"
	"github.com/stratahq/strata/services/gateway/keystore/keystoretest"
)

// TestSharedPostgresKeyStore runs two gateway instances on one PostgreSQL key store: a
// key created through one works on the other, a revocation through one applies on the
// other (its lookup cache is off here; by default within STRATA_GATEWAY_KEY_CACHE_TTL),
// and both write one audit log.
func TestSharedPostgresKeyStore(t *testing.T) {
	t.Parallel()
	keys := keystoretest.Postgres(t)
	clients := make([]*grpc.ClientConn, 2)
	for i := range clients {
		cfg := gateway.DefaultConfig()
		cfg.AdminKeys = []string{configuredAdmin}
		cfg.Keys = keys
		cfg.KeyCacheTTL = 0
		conn, err := grpc.NewClient(gatewaytest.Start(t, cfg).GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		clients[i] = conn
	}
	a, b := gatewayv1.NewKeyServiceClient(clients[0]), gatewayv1.NewKeyServiceClient(clients[1])
	admin := bearer(t.Context(), configuredAdmin)

	created, err := a.CreateKey(admin, &gatewayv1.CreateKeyRequest{Name: "shared", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}})
	if err != nil {
		t.Fatalf("CreateKey on A: %v", err)
	}
	asNew := bearer(t.Context(), created.GetSecret())
	if _, err := b.ListKeys(asNew, &gatewayv1.ListKeysRequest{}); err != nil {
		t.Fatalf("new key on B: %v", err)
	}
	if _, err := a.RevokeKey(admin, &gatewayv1.RevokeKeyRequest{KeyId: created.GetKey().GetKeyId()}); err != nil {
		t.Fatalf("RevokeKey on A: %v", err)
	}
	if _, err := b.ListKeys(asNew, &gatewayv1.ListKeysRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked key on B: got %v, want Unauthenticated", err)
	}
	// B's own admin action joins A's in the one log.
	if _, err := b.RevokeKey(admin, &gatewayv1.RevokeKeyRequest{KeyId: "key_missing"}); status.Code(err) != codes.NotFound {
		t.Fatalf("RevokeKey unknown on B: got %v, want NotFound", err)
	}
	log, err := gatewayv1.NewAuditServiceClient(clients[0]).ListAuditEntries(admin, &gatewayv1.ListAuditEntriesRequest{})
	if err != nil {
		t.Fatalf("ListAuditEntries: %v", err)
	}
	var got []string
	for _, e := range log.GetEntries() {
		got = append(got, e.GetMethod()+" "+e.GetCode())
	}
	want := []string{
		"/strata.gateway.v1.KeyService/RevokeKey NOT_FOUND",
		"/strata.gateway.v1.KeyService/RevokeKey OK",
		"/strata.gateway.v1.KeyService/CreateKey OK",
	}
	if len(got) != len(want) {
		t.Fatalf("audit entries: got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit entry %d: got %q, want %q", i, got[i], want[i])
		}
	}
}
