package cli

import (
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/gatewaytest"
)

// TestPrivacyEraseNeedsAdmin checks the command reaches the gateway and that the method
// is admin-only. (The erasure itself is exercised end to end by the suite scenario
// "right to erasure" in package suitetest.)
func TestPrivacyEraseNeedsAdmin(t *testing.T) {
	t.Parallel()
	cfg := gateway.DefaultConfig()
	cfg.AdminKeys = []string{"cli-admin"}
	addr := gatewaytest.Start(t, cfg).GRPC
	out, err := run(t, "keys", "--grpc", addr, "--admin-key", "cli-admin", "create", "--name", "sdk", "--scope", "track,recommend")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`).FindString(out)
	out, err = run(t, "privacy", "--grpc", addr, "--admin-key", secret, "erase", "u42")
	if err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Errorf("erase with a track key: got %q, %v; want PermissionDenied", out, err)
	}
	if _, err := run(t, "privacy", "erase"); err == nil {
		t.Errorf("erase without a user: got nil error")
	}
}

// erasureStatuses is a CRM that knows one erasure request, reported by two services.
type erasureStatuses struct {
	crmv1.UnimplementedCRMServiceServer
}

func (erasureStatuses) GetErasureStatus(_ context.Context, req *crmv1.GetErasureStatusRequest) (*crmv1.ErasureStatus, error) {
	if req.GetRequestId() != "req-7" {
		return nil, status.Error(codes.NotFound, "no service has reported")
	}
	at := timestamppb.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	return &crmv1.ErasureStatus{RequestId: "req-7", UserId: "u42", Missing: []string{"prediction", "profile", "recommendation"},
		Receipts: []*privacyv1.ErasureReceipt{
			{RequestId: "req-7", UserId: "u42", Service: "crm", CompletedAt: at, Items: 12},
			{RequestId: "req-7", UserId: "u42", Service: "ingest", CompletedAt: at, Items: 1},
		}}, nil
}

// TestPrivacyStatus runs the command through a gateway to a CRM stand-in.
func TestPrivacyStatus(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	crmv1.RegisterCRMServiceServer(srv, erasureStatuses{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cfg := gateway.DefaultConfig()
	cfg.AdminKeys = []string{"cli-admin"}
	cfg.CRMAddr = lis.Addr().String()
	addr := gatewaytest.Start(t, cfg).GRPC

	out, err := run(t, "privacy", "--grpc", addr, "--admin-key", "cli-admin", "status", "req-7")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"erasure request req-7 for u42: incomplete, missing prediction, profile, recommendation",
		"crm                   12 items  2026-11-27T10:00:00Z", "ingest                 1 items"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output does not contain %q:\n%s", want, out)
		}
	}
	out, err = run(t, "privacy", "--grpc", addr, "--admin-key", "cli-admin", "--json", "status", "req-7")
	var st struct {
		Receipts []json.RawMessage `json:"receipts"`
		Missing  []string          `json:"missing"`
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Receipts) != 2 || len(st.Missing) != 3 {
		t.Errorf("status --json: got %q, %v; want the status as JSON", out, err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown request", []string{"--admin-key", "cli-admin", "status", "req-8"}, "NotFound"},
		{"not an admin key", []string{"--admin-key", "sk_wrong", "status", "req-7"}, "Unauthenticated"},
	}
	for _, tt := range tests {
		out, err := run(t, append([]string{"privacy", "--grpc", addr}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %q, %v; want %s", tt.name, out, err, tt.want)
		}
	}
	if _, err := run(t, "privacy", "status"); err == nil {
		t.Errorf("status without a request id: got nil error")
	}
}
