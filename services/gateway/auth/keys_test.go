package auth

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
)

// stepClock returns a clock that advances one second per call, so creation order is
// observable without sleeping.
func stepClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func newTestStore() *Store {
	s := NewStore()
	s.now = stepClock()
	return s
}

func TestStoreAddAuthenticate(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	added := s.Add("console", "secret-1", "u1", gatewayv1.Scope_SCOPE_READ_SELF, gatewayv1.Scope_SCOPE_RECOMMEND)
	if added.GetKeyId() == "" {
		t.Fatalf("key_id: got empty, want an id")
	}
	tests := []struct {
		name    string
		secret  string
		wantErr error
	}{
		{name: "right secret", secret: "secret-1"},
		{name: "unknown secret", secret: "secret-2", wantErr: ErrUnknownKey},
		{name: "empty secret", secret: "", wantErr: ErrUnknownKey},
		{name: "prefix of the secret", secret: "secret-", wantErr: ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := s.Authenticate(t.Context(), tt.secret)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Authenticate: got %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if k != nil {
					t.Errorf("key: got %v, want nil", k)
				}
				return
			}
			if got, want := k.GetKeyId(), added.GetKeyId(); got != want {
				t.Errorf("key_id: got %q, want %q", got, want)
			}
			if got, want := k.GetUserId(), "u1"; got != want {
				t.Errorf("user_id: got %q, want %q", got, want)
			}
			if got, want := k.GetName(), "console"; got != want {
				t.Errorf("name: got %q, want %q", got, want)
			}
			if got, want := k.GetScopes(), []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF, gatewayv1.Scope_SCOPE_RECOMMEND}; !slices.Equal(got, want) {
				t.Errorf("scopes: got %v, want %v", got, want)
			}
		})
	}
}

func TestStoreAddCopiesScopes(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	scopes := []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}
	s.Add("k", "secret", "", scopes...)
	scopes[0] = gatewayv1.Scope_SCOPE_ADMIN
	k, err := s.Authenticate(t.Context(), "secret")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got, want := k.GetScopes(), []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}; !slices.Equal(got, want) {
		t.Errorf("scopes after the caller's slice changed: got %v, want %v", got, want)
	}
}

func TestStoreCreate(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	k1, secret1, err := s.Create("ios app", "", gatewayv1.Scope_SCOPE_TRACK)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	k2, secret2, err := s.Create("web app", "", gatewayv1.Scope_SCOPE_TRACK)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !strings.HasPrefix(secret1, "sk_") {
		t.Errorf("secret: got %q, want prefix %q", secret1, "sk_")
	}
	if got, want := len(secret1), len("sk_")+43; got != want {
		t.Errorf("len(secret): got %d, want %d (256 random bits)", got, want)
	}
	if secret1 == secret2 || k1.GetKeyId() == k2.GetKeyId() {
		t.Errorf("two keys: got secrets %q, %q and ids %q, %q, want distinct", secret1, secret2, k1.GetKeyId(), k2.GetKeyId())
	}
	for _, c := range []struct {
		secret string
		want   *gatewayv1.Key
	}{{secret1, k1}, {secret2, k2}} {
		got, err := s.Authenticate(t.Context(), c.secret)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if got.GetKeyId() != c.want.GetKeyId() {
			t.Errorf("key_id: got %q, want %q", got.GetKeyId(), c.want.GetKeyId())
		}
	}
}

func TestStoreListHidesSecrets(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	s.Add("admin", "configured-admin-secret", "", gatewayv1.Scope_SCOPE_ADMIN)
	_, created, err := s.Create("client", "u1", gatewayv1.Scope_SCOPE_READ_SELF)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	keys := s.List()
	if got, want := len(keys), 2; got != want {
		t.Fatalf("len(List): got %d, want %d", got, want)
	}
	for _, k := range keys {
		b, err := protojson.Marshal(k)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		wire, err := proto.Marshal(k)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		for _, secret := range []string{"configured-admin-secret", created, strings.TrimPrefix(created, "sk_")} {
			if strings.Contains(string(b), secret) || strings.Contains(string(wire), secret) {
				t.Errorf("listed key %s: got it carrying a secret, want none", b)
			}
		}
	}
}

func TestStoreListOrder(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	names := []string{"first", "second", "third", "fourth"}
	for i, n := range names {
		s.Add(n, "secret-"+n, "", gatewayv1.Scope(i%4+1))
	}
	var got []string
	for _, k := range s.List() {
		got = append(got, k.GetName())
	}
	if !slices.Equal(got, names) {
		t.Errorf("List order: got %v, want %v (oldest first)", got, names)
	}

	// Keys created at the same instant are ordered by id.
	same := NewStore()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	same.now = func() time.Time { return at }
	for _, n := range names {
		same.Add(n, "secret-"+n, "")
	}
	var ids []string
	for _, k := range same.List() {
		ids = append(ids, k.GetKeyId())
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids of keys created together: got %v, want sorted", ids)
	}
}

func TestStoreRevoke(t *testing.T) {
	t.Parallel()
	s := newTestStore()
	k := s.Add("client", "secret", "u1", gatewayv1.Scope_SCOPE_READ_SELF)
	other := s.Add("other", "other-secret", "u2", gatewayv1.Scope_SCOPE_READ_SELF)

	if err := s.Revoke(k.GetKeyId()); err != nil {
		t.Fatalf("Revoke: got %v, want nil", err)
	}
	if _, err := s.Authenticate(t.Context(), "secret"); !errors.Is(err, ErrRevoked) {
		t.Errorf("Authenticate revoked: got %v, want %v", err, ErrRevoked)
	}
	if _, err := s.Authenticate(t.Context(), "other-secret"); err != nil {
		t.Errorf("Authenticate other key: got %v, want nil", err)
	}
	var revokedAt time.Time
	for _, l := range s.List() {
		switch l.GetKeyId() {
		case k.GetKeyId():
			if l.GetRevokedAt() == nil {
				t.Fatalf("listed revoked key: revoked_at got nil, want set")
			}
			revokedAt = l.GetRevokedAt().AsTime()
		case other.GetKeyId():
			if l.GetRevokedAt() != nil {
				t.Errorf("listed other key: revoked_at got %v, want nil", l.GetRevokedAt())
			}
		}
	}

	// Revoking again is a no-op that keeps the first revocation time.
	if err := s.Revoke(k.GetKeyId()); err != nil {
		t.Fatalf("Revoke again: got %v, want nil", err)
	}
	for _, l := range s.List() {
		if l.GetKeyId() == k.GetKeyId() && !l.GetRevokedAt().AsTime().Equal(revokedAt) {
			t.Errorf("revoked_at after a second revoke: got %v, want %v", l.GetRevokedAt().AsTime(), revokedAt)
		}
	}

	if err := s.Revoke("no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke unknown: got %v, want %v", err, ErrNotFound)
	}
}

// TestStoreConcurrent runs the Store's operations together under the race detector,
// reading the returned keys as a caller (the interceptor, a ListKeys response) would.
func TestStoreConcurrent(t *testing.T) {
	t.Parallel()
	s := NewStore()
	const n = 16
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.Add("k", "secret-"+string(rune('a'+i)), "u1", gatewayv1.Scope_SCOPE_TRACK).GetKeyId()
	}
	var wg sync.WaitGroup
	for i := range n {
		secret := "secret-" + string(rune('a'+i))
		wg.Go(func() {
			if k, err := s.Authenticate(t.Context(), secret); err == nil {
				_ = k.GetRevokedAt()
				_, _ = proto.Marshal(k)
			}
		})
		wg.Go(func() {
			for _, k := range s.List() {
				_, _ = proto.Marshal(k)
			}
		})
		wg.Go(func() {
			if err := s.Revoke(ids[i]); err != nil {
				t.Errorf("Revoke: %v", err)
			}
		})
		wg.Go(func() {
			if _, _, err := s.Create("c", "", gatewayv1.Scope_SCOPE_TRACK); err != nil {
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if _, err := s.Authenticate(t.Context(), "secret-"+string(rune('a'+i))); !errors.Is(err, ErrRevoked) {
			t.Errorf("key %d after revoke: got %v, want %v", i, err, ErrRevoked)
		}
	}
	if got, want := len(s.List()), 2*n; got != want {
		t.Errorf("len(List): got %d, want %d", got, want)
	}
}
