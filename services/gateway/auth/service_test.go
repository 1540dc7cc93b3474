package auth

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/keystore/keystoretest"
	"github.com/stratahq/strata/services/gateway/ratelimit"
)

func TestKeyService(t *testing.T) {
	t.Parallel()
	k, _, _ := newTestKeys(t, DefaultCacheTTL)
	cfg := k.AddConfigured("ops", "configured", gatewayv1.Scope_SCOPE_ADMIN)
	svc := NewKeyService(k, ratelimit.New(ratelimit.Limit{}), nil)

	created, err := svc.CreateKey(t.Context(), &gatewayv1.CreateKeyRequest{
		Name: "mobile", UserId: "u1", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF}, RatePerSecond: 5, RateBurst: 10,
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if created.GetSecret() == "" || created.GetKey().GetKeyId() == "" {
		t.Fatalf("CreateKey: got secret %q and id %q, want both", created.GetSecret(), created.GetKey().GetKeyId())
	}
	key, err := k.Authenticate(t.Context(), created.GetSecret())
	if err != nil {
		t.Fatalf("Authenticate created secret: %v", err)
	}
	if key.GetUserId() != "u1" || key.GetRatePerSecond() != 5 || key.GetRateBurst() != 10 {
		t.Errorf("created key: got %v, want user u1, 5/s, burst 10", key)
	}

	// read:self without a user could read nobody: refused, naming the field.
	_, err = svc.CreateKey(t.Context(), &gatewayv1.CreateKeyRequest{Name: "x", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF}})
	if got, want := status.Code(err), codes.InvalidArgument; got != want {
		t.Fatalf("read:self without user: got %v, want %v", got, want)
	}
	var field string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			field = br.GetFieldViolations()[0].GetField()
		}
	}
	if field != "user_id" {
		t.Errorf("field violation: got %q, want user_id", field)
	}

	list, err := svc.ListKeys(t.Context(), &gatewayv1.ListKeysRequest{})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if got, want := len(list.GetKeys()), 2; got != want {
		t.Fatalf("keys: got %d, want %d (configured and created)", got, want)
	}

	tests := []struct {
		id   string
		want codes.Code
	}{
		{created.GetKey().GetKeyId(), codes.OK},
		{created.GetKey().GetKeyId(), codes.OK}, // again: a no-op
		{"key_missing", codes.NotFound},
		{cfg.GetKeyId(), codes.FailedPrecondition},
	}
	for _, tt := range tests {
		_, err := svc.RevokeKey(t.Context(), &gatewayv1.RevokeKeyRequest{KeyId: tt.id})
		if got := status.Code(err); got != tt.want {
			t.Errorf("RevokeKey(%s): got %v, want %v", tt.id, got, tt.want)
		}
	}
	if _, err := k.Authenticate(t.Context(), created.GetSecret()); !errors.Is(err, ErrRevoked) {
		t.Errorf("Authenticate after RevokeKey: got %v, want %v", err, ErrRevoked)
	}
}

func TestKeyServiceStoreDown(t *testing.T) {
	t.Parallel()
	svc := NewKeyService(NewKeys(brokenStore{}, 0), nil, nil)
	_, createErr := svc.CreateKey(t.Context(), &gatewayv1.CreateKeyRequest{Name: "x", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}})
	_, listErr := svc.ListKeys(t.Context(), &gatewayv1.ListKeysRequest{})
	_, revokeErr := svc.RevokeKey(t.Context(), &gatewayv1.RevokeKeyRequest{KeyId: "key_x"})
	for name, err := range map[string]error{"CreateKey": createErr, "ListKeys": listErr, "RevokeKey": revokeErr} {
		if got, want := status.Code(err), codes.Unavailable; got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}

func TestAuditService(t *testing.T) {
	t.Parallel()
	store := keystoretest.Open(t, keystoretest.SQLite(t))
	for i := range 5 {
		keyID := "k1"
		if i == 4 {
			keyID = "k2"
		}
		if err := store.AppendAudit(t.Context(), &gatewayv1.AuditEntry{
			At: timestamppb.Now(), KeyId: keyID, Method: adminOnly, Code: "OK",
		}); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	svc := NewAuditService(store, nil)
	tests := []struct {
		name     string
		req      *gatewayv1.ListAuditEntriesRequest
		want     int
		wantNext bool
	}{
		{"default page", &gatewayv1.ListAuditEntriesRequest{}, 5, false},
		{"page of two", &gatewayv1.ListAuditEntriesRequest{PageSize: 2}, 2, true},
		{"one key", &gatewayv1.ListAuditEntriesRequest{KeyId: "k2"}, 1, false},
	}
	for _, tt := range tests {
		resp, err := svc.ListAuditEntries(t.Context(), tt.req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := len(resp.GetEntries()); got != tt.want {
			t.Errorf("%s: got %d entries, want %d", tt.name, got, tt.want)
		}
		if got := resp.GetNextPageToken() != ""; got != tt.wantNext {
			t.Errorf("%s: next page token %q, want one: %v", tt.name, resp.GetNextPageToken(), tt.wantNext)
		}
	}
	// Following the tokens visits every entry once.
	seen := map[string]bool{}
	req := &gatewayv1.ListAuditEntriesRequest{PageSize: 2}
	for {
		resp, err := svc.ListAuditEntries(t.Context(), req)
		if err != nil {
			t.Fatalf("ListAuditEntries: %v", err)
		}
		for _, e := range resp.GetEntries() {
			if seen[e.GetEntryId()] {
				t.Errorf("entry %s: got it twice", e.GetEntryId())
			}
			seen[e.GetEntryId()] = true
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if len(seen) != 5 {
		t.Errorf("entries over all pages: got %d, want 5", len(seen))
	}
}
