package auth

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratahq/strata/pkg/rpcerr"
	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/keystore"
	"github.com/stratahq/strata/services/gateway/ratelimit"
)

// KeyService implements strata.gateway.v1.KeyService over Keys.
type KeyService struct {
	gatewayv1.UnimplementedKeyServiceServer
	keys    *Keys
	limiter *ratelimit.Limiter
	log     *slog.Logger
}

// NewKeyService returns the admin API for keys; limiter (may be nil) forgets the
// buckets of revoked keys.
func NewKeyService(k *Keys, limiter *ratelimit.Limiter, log *slog.Logger) *KeyService {
	return &KeyService{keys: k, limiter: limiter, log: orDiscard(log)}
}

// unavailable logs a store failure and returns the status clients see.
func unavailable(ctx context.Context, log *slog.Logger, what string, err error) error {
	log.ErrorContext(ctx, what+" failed", "err", err)
	return status.Error(codes.Unavailable, what+": store unavailable, retry later")
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// CreateKey implements KeyService.
func (k *KeyService) CreateKey(ctx context.Context, req *gatewayv1.CreateKeyRequest) (*gatewayv1.CreateKeyResponse, error) {
	if req.GetUserId() == "" && needsUser(req.GetScopes()) {
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{
			Field: "user_id", Description: "a key with the read:self scope must be bound to a user",
		})
	}
	key, secret, err := k.keys.Create(ctx, req)
	if err != nil {
		return nil, unavailable(ctx, k.log, "create key", err)
	}
	return &gatewayv1.CreateKeyResponse{Key: key, Secret: secret}, nil
}

// needsUser reports whether scopes include read:self without admin: such a key could
// read nobody unless it is bound to a user.
func needsUser(scopes []gatewayv1.Scope) bool {
	self, admin := false, false
	for _, s := range scopes {
		self = self || s == gatewayv1.Scope_SCOPE_READ_SELF
		admin = admin || s == gatewayv1.Scope_SCOPE_ADMIN
	}
	return self && !admin
}

// ListKeys implements KeyService.
func (k *KeyService) ListKeys(ctx context.Context, _ *gatewayv1.ListKeysRequest) (*gatewayv1.ListKeysResponse, error) {
	keys, err := k.keys.List(ctx)
	if err != nil {
		return nil, unavailable(ctx, k.log, "list keys", err)
	}
	return &gatewayv1.ListKeysResponse{Keys: keys}, nil
}

// RevokeKey implements KeyService.
func (k *KeyService) RevokeKey(ctx context.Context, req *gatewayv1.RevokeKeyRequest) (*gatewayv1.RevokeKeyResponse, error) {
	err := k.keys.Revoke(ctx, req.GetKeyId())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no key %q", req.GetKeyId())
	case errors.Is(err, ErrConfigured):
		return nil, status.Errorf(codes.FailedPrecondition, "key %q comes from configuration: remove it there", req.GetKeyId())
	case err != nil:
		return nil, unavailable(ctx, k.log, "revoke key", err)
	}
	if k.limiter != nil {
		k.limiter.Forget(req.GetKeyId())
	}
	return &gatewayv1.RevokeKeyResponse{}, nil
}

// auditLister reads the audit log; *keystore.Store implements it.
type auditLister interface {
	ListAudit(ctx context.Context, q keystore.AuditQuery) ([]*gatewayv1.AuditEntry, bool, error)
}

// AuditService implements strata.gateway.v1.AuditService.
type AuditService struct {
	gatewayv1.UnimplementedAuditServiceServer
	entries auditLister
	log     *slog.Logger
}

// NewAuditService returns the admin API for the audit log.
func NewAuditService(entries auditLister, log *slog.Logger) *AuditService {
	return &AuditService{entries: entries, log: orDiscard(log)}
}

// defaultAuditPage is the page size when the request names none.
const defaultAuditPage = 100

// ListAuditEntries implements AuditService.
func (a *AuditService) ListAuditEntries(ctx context.Context, req *gatewayv1.ListAuditEntriesRequest) (*gatewayv1.ListAuditEntriesResponse, error) {
	limit := int(req.GetPageSize())
	if limit == 0 {
		limit = defaultAuditPage
	}
	entries, more, err := a.entries.ListAudit(ctx, keystore.AuditQuery{KeyID: req.GetKeyId(), Before: req.GetPageToken(), Limit: limit})
	if err != nil {
		return nil, unavailable(ctx, a.log, "list audit entries", err)
	}
	resp := &gatewayv1.ListAuditEntriesResponse{Entries: entries}
	if more {
		resp.NextPageToken = entries[len(entries)-1].GetEntryId()
	}
	return resp, nil
}
