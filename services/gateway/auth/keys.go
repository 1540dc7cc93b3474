// Package auth authenticates API keys, meters them, authorises calls by scope and records
// admin actions in the audit log.
//
// Keys: a secret is "sk_" followed by 256 random bits (base64url); only its SHA-256 is
// stored (a fast hash is enough for secrets with that much entropy) and it is shown once
// at creation. A secret is found by its hash — an equality lookup on a value the caller
// cannot steer byte by byte, so the time it takes reveals nothing about stored secrets,
// which is what a constant-time comparison of secrets would otherwise guard against.
// Created keys persist in a [KeyStore] (package keystore: PostgreSQL or SQLite).
// Configured keys
// (STRATA_GATEWAY_ADMIN_KEYS, the embedded development keys) are held in memory only:
// they are never written to the store, are not rate-limited and cannot be revoked
// through the API. A client key may be bound to one user: it then reads only that user.
//
// [Keys] caches lookups (hits and misses) for a short TTL so that the store is not asked
// on every call; a revocation made through this instance applies at once, one made
// through another instance within the TTL.
//
// [Guard] is the one door every call goes through: authenticate, charge the key's token
// bucket (package ratelimit), authorise, and, for admin writes, audit. All types here are
// safe for concurrent use.
package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/keystore"
)

// Errors returned by Keys.
var (
	ErrUnknownKey = errors.New("auth: unknown API key")
	ErrRevoked    = errors.New("auth: API key revoked")
	ErrNotFound   = errors.New("auth: no such key id")
	// ErrConfigured is returned by Revoke for a key from configuration.
	ErrConfigured = errors.New("auth: key comes from configuration")
)

// KeyStore persists keys by the hash of their secret; *keystore.Store implements it.
// KeyByHash and RevokeKey return keystore.ErrNotFound for unknown keys.
type KeyStore interface {
	InsertKey(ctx context.Context, k *gatewayv1.Key, hash []byte) error
	KeyByHash(ctx context.Context, hash []byte) (*gatewayv1.Key, error)
	ListKeys(ctx context.Context) ([]*gatewayv1.Key, error)
	RevokeKey(ctx context.Context, id string, at time.Time) error
}

// DefaultCacheTTL bounds how long another instance's revocation takes to apply here.
const DefaultCacheTTL = 10 * time.Second

// maxCached bounds the lookup cache; it is emptied when full, so a flood of random
// secrets costs store lookups, not memory.
const maxCached = 10000

// Keys authenticates secrets against configured keys and the store.
type Keys struct {
	store KeyStore
	ttl   time.Duration
	now   func() time.Time

	mu         sync.RWMutex
	configured map[[sha256.Size]byte]*gatewayv1.Key
	cache      map[[sha256.Size]byte]cached
	// gen counts revocations, so that a lookup that raced one does not put the key it
	// read before the revocation back into the cache.
	gen uint64
}

type cached struct {
	key     *gatewayv1.Key
	err     error // ErrUnknownKey or nil
	expires time.Time
}

// NewKeys returns keys backed by store, caching lookups for ttl (0 disables the cache).
func NewKeys(store KeyStore, ttl time.Duration) *Keys {
	return &Keys{
		store: store, ttl: ttl, now: time.Now,
		configured: map[[sha256.Size]byte]*gatewayv1.Key{},
		cache:      map[[sha256.Size]byte]cached{},
	}
}

// AddConfigured accepts secret with scopes, in memory only. Its id derives from the
// secret's hash, so it is stable across restarts and instances.
func (k *Keys) AddConfigured(name, secret string, scopes ...gatewayv1.Scope) *gatewayv1.Key {
	h := sha256.Sum256([]byte(secret))
	key := &gatewayv1.Key{
		KeyId:      "cfg_" + hex.EncodeToString(h[:6]),
		Name:       name,
		Scopes:     slices.Clone(scopes),
		CreatedAt:  timestamppb.New(k.now()),
		Configured: true,
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.configured[h] = key
	return key
}

// Create stores a new key built from req and returns it with its secret, which is not
// kept anywhere.
func (k *Keys) Create(ctx context.Context, req *gatewayv1.CreateKeyRequest) (*gatewayv1.Key, string, error) {
	var raw [32 + 8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("auth: random: %w", err)
	}
	secret := "sk_" + base64.RawURLEncoding.EncodeToString(raw[:32])
	h := sha256.Sum256([]byte(secret))
	key := &gatewayv1.Key{
		KeyId:         "key_" + hex.EncodeToString(raw[32:]),
		Name:          req.GetName(),
		Scopes:        slices.Clone(req.GetScopes()),
		UserId:        req.GetUserId(),
		CreatedAt:     timestamppb.New(k.now().UTC().Truncate(time.Microsecond)),
		RatePerSecond: req.GetRatePerSecond(),
		RateBurst:     req.GetRateBurst(),
	}
	if err := k.store.InsertKey(ctx, key, h[:]); err != nil {
		return nil, "", fmt.Errorf("auth: create key: %w", err)
	}
	return key, secret, nil
}

// Authenticate returns the key whose secret this is: ErrUnknownKey or ErrRevoked when
// it may not be used, another error when the store failed.
func (k *Keys) Authenticate(ctx context.Context, secret string) (*gatewayv1.Key, error) {
	h := sha256.Sum256([]byte(secret))
	now := k.now()
	k.mu.RLock()
	cfg, isCfg := k.configured[h]
	c, hit := k.cache[h]
	gen := k.gen
	k.mu.RUnlock()
	if isCfg {
		return cfg, nil
	}
	if !hit || now.After(c.expires) {
		key, err := k.lookup(ctx, h)
		if err != nil && !errors.Is(err, ErrUnknownKey) {
			return nil, err
		}
		c = cached{key: key, err: err, expires: now.Add(k.ttl)}
		if k.ttl > 0 {
			k.mu.Lock()
			if len(k.cache) >= maxCached {
				clear(k.cache)
			}
			if k.gen == gen {
				k.cache[h] = c
			}
			k.mu.Unlock()
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.key.GetRevokedAt() != nil {
		return nil, ErrRevoked
	}
	return c.key, nil
}

func (k *Keys) lookup(ctx context.Context, h [sha256.Size]byte) (*gatewayv1.Key, error) {
	key, err := k.store.KeyByHash(ctx, h[:])
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("auth: look key up: %w", err)
	}
	return key, nil
}

// List returns the configured keys, then the stored ones oldest first, without secrets.
func (k *Keys) List(ctx context.Context) ([]*gatewayv1.Key, error) {
	k.mu.RLock()
	out := make([]*gatewayv1.Key, 0, len(k.configured))
	for _, key := range k.configured {
		out = append(out, key)
	}
	k.mu.RUnlock()
	slices.SortFunc(out, func(a, b *gatewayv1.Key) int {
		return cmp.Or(strings.Compare(a.GetName(), b.GetName()), strings.Compare(a.GetKeyId(), b.GetKeyId()))
	})
	stored, err := k.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	return append(out, stored...), nil
}

// Revoke revokes the stored key id at once on this instance (within the cache TTL on
// others). It returns ErrNotFound for an unknown id and ErrConfigured for a configured
// key.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	k.mu.RLock()
	for _, key := range k.configured {
		if key.GetKeyId() == id {
			k.mu.RUnlock()
			return ErrConfigured
		}
	}
	k.mu.RUnlock()
	err := k.store.RevokeKey(ctx, id, k.now().UTC().Truncate(time.Microsecond))
	if errors.Is(err, keystore.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: revoke: %w", err)
	}
	// Revocations are rare: dropping the whole cache is simpler than finding the entry.
	k.mu.Lock()
	clear(k.cache)
	k.gen++
	k.mu.Unlock()
	return nil
}
