package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/keystore"
	"github.com/stratahq/strata/services/gateway/keystore/keystoretest"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newBenchKeys returns Keys over a fresh SQLite store with the default cache.
func newBenchKeys(b *testing.B) *Keys {
	b.Helper()
	return NewKeys(keystoretest.Open(b, keystoretest.SQLite(b)), DefaultCacheTTL)
}

// newTestKeys returns Keys over a fresh SQLite store, with its store and clock.
func newTestKeys(t *testing.T, ttl time.Duration) (*Keys, *keystore.Store, *testClock) {
	t.Helper()
	store := keystoretest.Open(t, keystoretest.SQLite(t))
	clock := &testClock{t: time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)}
	k := NewKeys(store, ttl)
	k.now = clock.now
	return k, store, clock
}

func create(t *testing.T, k *Keys, name, user string, scopes ...gatewayv1.Scope) (*gatewayv1.Key, string) {
	t.Helper()
	key, secret, err := k.Create(t.Context(), &gatewayv1.CreateKeyRequest{Name: name, UserId: user, Scopes: scopes})
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	return key, secret
}

func TestKeysCreateAuthenticate(t *testing.T) {
	t.Parallel()
	k, _, _ := newTestKeys(t, DefaultCacheTTL)
	k1, secret1 := create(t, k, "ios app", "u1", gatewayv1.Scope_SCOPE_READ_SELF, gatewayv1.Scope_SCOPE_RECOMMEND)
	k2, secret2 := create(t, k, "web app", "", gatewayv1.Scope_SCOPE_TRACK)
	if !strings.HasPrefix(secret1, "sk_") {
		t.Errorf("secret: got %q, want prefix %q", secret1, "sk_")
	}
	if got, want := len(secret1), len("sk_")+43; got != want {
		t.Errorf("len(secret): got %d, want %d (256 random bits)", got, want)
	}
	if secret1 == secret2 || k1.GetKeyId() == k2.GetKeyId() {
		t.Errorf("two keys: got secrets %q, %q and ids %q, %q, want distinct", secret1, secret2, k1.GetKeyId(), k2.GetKeyId())
	}
	tests := []struct {
		name    string
		secret  string
		want    *gatewayv1.Key
		wantErr error
	}{
		{name: "first key", secret: secret1, want: k1},
		{name: "second key", secret: secret2, want: k2},
		{name: "unknown secret", secret: "sk_nope", wantErr: ErrUnknownKey},
		{name: "empty secret", secret: "", wantErr: ErrUnknownKey},
		{name: "prefix of a secret", secret: secret1[:len(secret1)-1], wantErr: ErrUnknownKey},
		// Asked twice: the second answer comes from the cache and must agree.
		{name: "unknown secret again", secret: "sk_nope", wantErr: ErrUnknownKey},
		{name: "first key again", secret: secret1, want: k1},
	}
	for _, tt := range tests {
		got, err := k.Authenticate(t.Context(), tt.secret)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: got %v, want %v", tt.name, err, tt.wantErr)
		}
		if tt.want != nil && !proto.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestKeysConfigured(t *testing.T) {
	t.Parallel()
	k, store, _ := newTestKeys(t, DefaultCacheTTL)
	cfg := k.AddConfigured("ops", "configured-secret", gatewayv1.Scope_SCOPE_ADMIN)
	got, err := k.Authenticate(t.Context(), "configured-secret")
	if err != nil {
		t.Fatalf("Authenticate configured: %v", err)
	}
	if !got.GetConfigured() || got.GetKeyId() != cfg.GetKeyId() {
		t.Errorf("configured key: got %v, want %v", got, cfg)
	}
	// Configured keys never reach the store.
	stored, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(stored) != 0 {
		t.Errorf("stored keys: got %d, want 0 (configured keys stay in memory)", len(stored))
	}
	if err := k.Revoke(t.Context(), cfg.GetKeyId()); !errors.Is(err, ErrConfigured) {
		t.Errorf("Revoke configured: got %v, want %v", err, ErrConfigured)
	}
	// The id derives from the secret, so it is the same in every instance.
	other, _, _ := newTestKeys(t, 0)
	if got, want := other.AddConfigured("ops", "configured-secret").GetKeyId(), cfg.GetKeyId(); got != want {
		t.Errorf("configured id in another instance: got %q, want %q", got, want)
	}
}

func TestKeysListHidesSecrets(t *testing.T) {
	t.Parallel()
	k, _, clock := newTestKeys(t, DefaultCacheTTL)
	k.AddConfigured("b-admin", "configured-b", gatewayv1.Scope_SCOPE_ADMIN)
	k.AddConfigured("a-admin", "configured-a", gatewayv1.Scope_SCOPE_ADMIN)
	_, s1 := create(t, k, "first", "u1", gatewayv1.Scope_SCOPE_READ_SELF)
	clock.advance(time.Second)
	_, s2 := create(t, k, "second", "", gatewayv1.Scope_SCOPE_TRACK)
	keys, err := k.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, key := range keys {
		names = append(names, key.GetName())
		b, err := protojson.Marshal(key)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		wire, err := proto.Marshal(key)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		for _, secret := range []string{"configured-a", "configured-b", s1, s2, strings.TrimPrefix(s1, "sk_")} {
			if strings.Contains(string(b), secret) || strings.Contains(string(wire), secret) {
				t.Errorf("listed key %s: got it carrying a secret, want none", b)
			}
		}
	}
	if want := []string{"a-admin", "b-admin", "first", "second"}; !slices.Equal(names, want) {
		t.Errorf("List order: got %v, want %v (configured by name, then stored oldest first)", names, want)
	}
}

func TestKeysRevoke(t *testing.T) {
	t.Parallel()
	k, store, clock := newTestKeys(t, time.Minute)
	key, secret := create(t, k, "client", "u1", gatewayv1.Scope_SCOPE_READ_SELF)
	_, otherSecret := create(t, k, "other", "u2", gatewayv1.Scope_SCOPE_READ_SELF)
	// Warm the cache: revocation through this instance must still apply at once.
	if _, err := k.Authenticate(t.Context(), secret); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := k.Revoke(t.Context(), key.GetKeyId()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := k.Authenticate(t.Context(), secret); !errors.Is(err, ErrRevoked) {
		t.Errorf("Authenticate revoked: got %v, want %v", err, ErrRevoked)
	}
	if _, err := k.Authenticate(t.Context(), otherSecret); err != nil {
		t.Errorf("Authenticate other key: got %v, want nil", err)
	}
	if err := k.Revoke(t.Context(), "key_missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke unknown: got %v, want %v", err, ErrNotFound)
	}

	// Another instance over the same store sees the revocation once its cache expires.
	other := NewKeys(store, time.Minute)
	other.now = clock.now
	k2, s2 := create(t, k, "shared", "", gatewayv1.Scope_SCOPE_TRACK)
	if _, err := other.Authenticate(t.Context(), s2); err != nil {
		t.Fatalf("other instance Authenticate: %v", err)
	}
	if err := k.Revoke(t.Context(), k2.GetKeyId()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := other.Authenticate(t.Context(), s2); err != nil {
		t.Errorf("other instance within the TTL: got %v, want the cached key", err)
	}
	clock.advance(time.Minute + time.Second)
	if _, err := other.Authenticate(t.Context(), s2); !errors.Is(err, ErrRevoked) {
		t.Errorf("other instance after the TTL: got %v, want %v", err, ErrRevoked)
	}
}

// brokenStore fails every call.
type brokenStore struct{ KeyStore }

var errStoreDown = errors.New("store down")

func (brokenStore) KeyByHash(context.Context, []byte) (*gatewayv1.Key, error) {
	return nil, errStoreDown
}
func (brokenStore) ListKeys(context.Context) ([]*gatewayv1.Key, error)      { return nil, errStoreDown }
func (brokenStore) RevokeKey(context.Context, string, time.Time) error      { return errStoreDown }
func (brokenStore) InsertKey(context.Context, *gatewayv1.Key, []byte) error { return errStoreDown }

func TestKeysStoreDown(t *testing.T) {
	t.Parallel()
	k := NewKeys(brokenStore{}, time.Minute)
	k.AddConfigured("ops", "configured", gatewayv1.Scope_SCOPE_ADMIN)
	for range 2 { // a failure is not cached as an unknown key
		if _, err := k.Authenticate(t.Context(), "sk_x"); !errors.Is(err, errStoreDown) || errors.Is(err, ErrUnknownKey) {
			t.Errorf("Authenticate: got %v, want the store's error", err)
		}
	}
	if _, err := k.Authenticate(t.Context(), "configured"); err != nil {
		t.Errorf("configured key with the store down: got %v, want nil", err)
	}
	if _, _, err := k.Create(t.Context(), &gatewayv1.CreateKeyRequest{Name: "x"}); !errors.Is(err, errStoreDown) {
		t.Errorf("Create: got %v, want %v", err, errStoreDown)
	}
	if _, err := k.List(t.Context()); !errors.Is(err, errStoreDown) {
		t.Errorf("List: got %v, want %v", err, errStoreDown)
	}
	if err := k.Revoke(t.Context(), "key_x"); !errors.Is(err, errStoreDown) {
		t.Errorf("Revoke: got %v, want %v", err, errStoreDown)
	}
}

// TestKeysConcurrent runs the operations together under the race detector.
func TestKeysConcurrent(t *testing.T) {
	t.Parallel()
	k, _, _ := newTestKeys(t, DefaultCacheTTL)
	const n = 8
	ids := make([]string, n)
	secrets := make([]string, n)
	for i := range n {
		key, s := create(t, k, "k", "", gatewayv1.Scope_SCOPE_TRACK)
		ids[i], secrets[i] = key.GetKeyId(), s
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if key, err := k.Authenticate(t.Context(), secrets[i]); err == nil {
				_, _ = proto.Marshal(key)
			}
		})
		wg.Go(func() {
			if _, err := k.List(t.Context()); err != nil {
				t.Errorf("List: %v", err)
			}
		})
		wg.Go(func() {
			if err := k.Revoke(t.Context(), ids[i]); err != nil {
				t.Errorf("Revoke: %v", err)
			}
		})
		wg.Go(func() {
			if _, _, err := k.Create(t.Context(), &gatewayv1.CreateKeyRequest{Name: "c", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}}); err != nil {
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if _, err := k.Authenticate(t.Context(), secrets[i]); !errors.Is(err, ErrRevoked) {
			t.Errorf("key %d after revoke: got %v, want %v", i, err, ErrRevoked)
		}
	}
	keys, err := k.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, want := len(keys), 2*n; got != want {
		t.Errorf("len(List): got %d, want %d", got, want)
	}
}
