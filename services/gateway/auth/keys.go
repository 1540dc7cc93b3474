// Package auth authenticates API keys and authorises gRPC calls by scope.
//
// Keys are stored hashed (SHA-256 of the secret; secrets are 256-bit random, so a fast
// hash is enough) and shown once at creation. A client key may be bound to one user: it
// then reads only that user's data. The Store keeps keys in memory, seeded from
// configuration; it is safe for concurrent use.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
)

// Errors returned by the Store.
var (
	ErrUnknownKey = errors.New("auth: unknown API key")
	ErrRevoked    = errors.New("auth: API key revoked")
	ErrNotFound   = errors.New("auth: no such key id")
)

type entry struct {
	key  *gatewayv1.Key
	hash [sha256.Size]byte
}

// Store holds API keys by hash.
type Store struct {
	mu     sync.RWMutex
	byHash map[[sha256.Size]byte]*entry
	byID   map[string]*entry
	now    func() time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{byHash: map[[sha256.Size]byte]*entry{}, byID: map[string]*entry{}, now: time.Now}
}

// Add stores a key with a known secret (configured admin keys, embedded dev keys).
func (s *Store) Add(name, secret, userID string, scopes ...gatewayv1.Scope) *gatewayv1.Key {
	h := sha256.Sum256([]byte(secret))
	k := &gatewayv1.Key{
		KeyId:     hex.EncodeToString(h[:6]),
		Name:      name,
		Scopes:    slices.Clone(scopes),
		UserId:    userID,
		CreatedAt: timestamppb.New(s.now()),
	}
	e := &entry{key: k, hash: h}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byHash[h] = e
	s.byID[k.KeyId] = e
	return k
}

// Create makes a key with a fresh random secret and returns both; the secret is not kept.
func (s *Store) Create(name, userID string, scopes ...gatewayv1.Scope) (*gatewayv1.Key, string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("auth: random: %w", err)
	}
	secret := "sk_" + base64.RawURLEncoding.EncodeToString(raw[:])
	return s.Add(name, secret, userID, scopes...), secret, nil
}

// Authenticate returns the key whose secret this is.
func (s *Store) Authenticate(_ context.Context, secret string) (*gatewayv1.Key, error) {
	h := sha256.Sum256([]byte(secret))
	s.mu.RLock()
	e, ok := s.byHash[h]
	var key *gatewayv1.Key
	if ok {
		key = e.key
	}
	s.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare(e.hash[:], h[:]) != 1 {
		return nil, ErrUnknownKey
	}
	if key.GetRevokedAt() != nil {
		return nil, ErrRevoked
	}
	return key, nil
}

// List returns every key, oldest first, without secrets.
func (s *Store) List() []*gatewayv1.Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*gatewayv1.Key, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e.key)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.AsTime().Equal(out[j].CreatedAt.AsTime()) {
			return out[i].CreatedAt.AsTime().Before(out[j].CreatedAt.AsTime())
		}
		return out[i].KeyId < out[j].KeyId
	})
	return out
}

// Revoke revokes a key at once.
func (s *Store) Revoke(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return ErrNotFound
	}
	if e.key.RevokedAt == nil {
		// Copy on write: callers may still be reading the key Authenticate or List gave them.
		k := proto.CloneOf(e.key)
		k.RevokedAt = timestamppb.New(s.now())
		e.key = k
	}
	return nil
}
