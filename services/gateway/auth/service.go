package auth

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
)

// KeyService implements strata.gateway.v1.KeyService over a Store.
type KeyService struct {
	gatewayv1.UnimplementedKeyServiceServer
	store *Store
}

// NewKeyService returns the admin API for keys.
func NewKeyService(s *Store) *KeyService { return &KeyService{store: s} }

// CreateKey implements KeyService.
func (k *KeyService) CreateKey(_ context.Context, req *gatewayv1.CreateKeyRequest) (*gatewayv1.CreateKeyResponse, error) {
	key, secret, err := k.store.Create(req.GetName(), req.GetUserId(), req.GetScopes()...)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "create key: %v", err)
	}
	return &gatewayv1.CreateKeyResponse{Key: key, Secret: secret}, nil
}

// ListKeys implements KeyService.
func (k *KeyService) ListKeys(context.Context, *gatewayv1.ListKeysRequest) (*gatewayv1.ListKeysResponse, error) {
	return &gatewayv1.ListKeysResponse{Keys: k.store.List()}, nil
}

// RevokeKey implements KeyService.
func (k *KeyService) RevokeKey(_ context.Context, req *gatewayv1.RevokeKeyRequest) (*gatewayv1.RevokeKeyResponse, error) {
	if err := k.store.Revoke(req.GetKeyId()); errors.Is(err, ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no key %q", req.GetKeyId())
	}
	return &gatewayv1.RevokeKeyResponse{}, nil
}
