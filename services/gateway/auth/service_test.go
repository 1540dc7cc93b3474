package auth

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
)

func TestKeyService(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	svc := NewKeyService(s)

	created, err := svc.CreateKey(t.Context(), &gatewayv1.CreateKeyRequest{
		Name: "mobile", UserId: "u1", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF},
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if created.GetSecret() == "" || created.GetKey().GetKeyId() == "" {
		t.Fatalf("CreateKey: got secret %q and id %q, want both", created.GetSecret(), created.GetKey().GetKeyId())
	}
	k, err := s.Authenticate(t.Context(), created.GetSecret())
	if err != nil {
		t.Fatalf("Authenticate created secret: %v", err)
	}
	if got, want := k.GetUserId(), "u1"; got != want {
		t.Errorf("user_id: got %q, want %q", got, want)
	}

	list, err := svc.ListKeys(t.Context(), &gatewayv1.ListKeysRequest{})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if got, want := len(list.GetKeys()), 1; got != want {
		t.Fatalf("keys: got %d, want %d", got, want)
	}

	if _, err := svc.RevokeKey(t.Context(), &gatewayv1.RevokeKeyRequest{KeyId: created.GetKey().GetKeyId()}); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if _, err := s.Authenticate(t.Context(), created.GetSecret()); !errors.Is(err, ErrRevoked) {
		t.Errorf("Authenticate after RevokeKey: got %v, want %v", err, ErrRevoked)
	}
	_, err = svc.RevokeKey(t.Context(), &gatewayv1.RevokeKeyRequest{KeyId: "missing"})
	if got, want := status.Code(err), codes.NotFound; got != want {
		t.Errorf("RevokeKey unknown: got %v, want %v", got, want)
	}
}
