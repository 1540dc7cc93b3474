package keystore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/keystore"
	"github.com/stratahq/strata/services/gateway/keystore/keystoretest"
)

// runContract checks what every database behind the key store must do. Each adapter
// test passes a keystore.Config for an empty database of its own.
func runContract(t *testing.T, cfg keystore.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s, err := keystore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	t.Run("migrations", func(t *testing.T) { testMigrations(ctx, t, s, cfg) })
	t.Run("keys", func(t *testing.T) { testKeys(ctx, t, s) })
	t.Run("revoke", func(t *testing.T) { testRevoke(ctx, t, s) })
	t.Run("concurrent inserts", func(t *testing.T) { testConcurrentInserts(ctx, t, s) })
	t.Run("audit", func(t *testing.T) { testAudit(ctx, t, s) })
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	runContract(t, keystoretest.SQLite(t))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := (keystore.Config{}).Validate(); !errors.Is(err, keystore.ErrNoDatabase) {
		t.Errorf("empty config: got %v, want %v", err, keystore.ErrNoDatabase)
	}
	if _, err := keystore.Open(t.Context(), keystore.Config{}); !errors.Is(err, keystore.ErrNoDatabase) {
		t.Errorf("Open empty config: got %v, want %v", err, keystore.ErrNoDatabase)
	}
}

var base = time.Date(2031, 5, 1, 9, 0, 0, 0, time.UTC)

func hashOf(s string) []byte {
	h := make([]byte, 32)
	copy(h, s)
	return h
}

func testMigrations(ctx context.Context, t *testing.T, s *keystore.Store, cfg keystore.Config) {
	v, err := s.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v < 1 {
		t.Fatalf("schema version: got %d, want at least 1", v)
	}
	again, err := keystore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer again.Close()
	if v2, err := again.Version(ctx); err != nil || v2 != v {
		t.Errorf("version after second Open: got %d (%v), want %d", v2, err, v)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testKeys(ctx context.Context, t *testing.T, s *keystore.Store) {
	keys := []*gatewayv1.Key{
		{KeyId: "keys-b", Name: "web", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF, gatewayv1.Scope_SCOPE_RECOMMEND},
			UserId: "u1", RatePerSecond: 2.5, RateBurst: 5, CreatedAt: timestamppb.New(base)},
		// Same creation time as keys-b: ties are ordered by id.
		{KeyId: "keys-a", Name: "ios", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}, CreatedAt: timestamppb.New(base)},
		{KeyId: "keys-c", Name: "ops", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}, CreatedAt: timestamppb.New(base.Add(-time.Hour))},
	}
	for _, k := range keys {
		if err := s.InsertKey(ctx, k, hashOf(k.GetKeyId())); err != nil {
			t.Fatalf("InsertKey(%s): %v", k.GetKeyId(), err)
		}
	}
	tests := []struct {
		name string
		key  *gatewayv1.Key
		hash string
	}{
		{"same id", &gatewayv1.Key{KeyId: "keys-a", CreatedAt: timestamppb.New(base)}, "other-hash"},
		{"same hash", &gatewayv1.Key{KeyId: "keys-z", CreatedAt: timestamppb.New(base)}, "keys-a"},
	}
	for _, tt := range tests {
		if err := s.InsertKey(ctx, tt.key, hashOf(tt.hash)); !errors.Is(err, keystore.ErrExists) {
			t.Errorf("InsertKey %s: got %v, want %v", tt.name, err, keystore.ErrExists)
		}
	}

	got, err := s.KeyByHash(ctx, hashOf("keys-b"))
	if err != nil {
		t.Fatalf("KeyByHash: %v", err)
	}
	if !proto.Equal(got, keys[0]) {
		t.Errorf("KeyByHash: got %v, want %v", got, keys[0])
	}
	if _, err := s.KeyByHash(ctx, hashOf("nobody")); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("KeyByHash unknown: got %v, want %v", err, keystore.ErrNotFound)
	}

	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	var ids []string
	for _, k := range list {
		if slices.Contains([]string{"keys-a", "keys-b", "keys-c"}, k.GetKeyId()) {
			ids = append(ids, k.GetKeyId())
		}
	}
	if want := []string{"keys-c", "keys-a", "keys-b"}; !slices.Equal(ids, want) {
		t.Errorf("ListKeys order: got %v, want %v (oldest first, ties by id)", ids, want)
	}
}

func testRevoke(ctx context.Context, t *testing.T, s *keystore.Store) {
	k := &gatewayv1.Key{KeyId: "revoke-1", Name: "r", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}, CreatedAt: timestamppb.New(base)}
	if err := s.InsertKey(ctx, k, hashOf("revoke-1")); err != nil {
		t.Fatalf("InsertKey: %v", err)
	}
	first := base.Add(time.Minute)
	if err := s.RevokeKey(ctx, "revoke-1", first); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if err := s.RevokeKey(ctx, "revoke-1", first.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeKey again: %v", err)
	}
	got, err := s.KeyByHash(ctx, hashOf("revoke-1"))
	if err != nil {
		t.Fatalf("KeyByHash: %v", err)
	}
	if got.GetRevokedAt() == nil || !got.GetRevokedAt().AsTime().Equal(first) {
		t.Errorf("revoked_at: got %v, want %v (the first revocation)", got.GetRevokedAt(), first)
	}
	if err := s.RevokeKey(ctx, "revoke-missing", first); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("RevokeKey unknown: got %v, want %v", err, keystore.ErrNotFound)
	}
}

func testConcurrentInserts(ctx context.Context, t *testing.T, s *keystore.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("conc-%d", i)
			errs[i] = s.InsertKey(ctx, &gatewayv1.Key{KeyId: id, Name: id, CreatedAt: timestamppb.New(base)}, hashOf(id))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("InsertKey conc-%d: %v", i, err)
		}
	}
	for i := range n {
		if _, err := s.KeyByHash(ctx, hashOf(fmt.Sprintf("conc-%d", i))); err != nil {
			t.Errorf("KeyByHash conc-%d: %v", i, err)
		}
	}
}

func testAudit(ctx context.Context, t *testing.T, s *keystore.Store) {
	var want []*gatewayv1.AuditEntry
	for i := range 5 {
		keyID := "audit-k1"
		if i%2 == 1 {
			keyID = "audit-k2"
		}
		e := &gatewayv1.AuditEntry{
			At: timestamppb.New(base.Add(time.Duration(i) * time.Second)), KeyId: keyID,
			Method: "/strata.gateway.v1.KeyService/CreateKey", Target: fmt.Sprintf("key_id=k%d", i),
			Code: "OK", Message: "",
		}
		if i == 4 {
			e.Code, e.Message = "NOT_FOUND", "no such key"
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		if e.GetEntryId() == "" {
			t.Fatalf("AppendAudit: entry_id got empty, want set")
		}
		want = append(want, e)
	}
	slices.Reverse(want)

	// Pages of two, newest first, over every key.
	var got []*gatewayv1.AuditEntry
	q := keystore.AuditQuery{Limit: 2}
	for page := 0; ; page++ {
		entries, more, err := s.ListAudit(ctx, q)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		got = append(got, entries...)
		if !more {
			break
		}
		if page > 5 {
			t.Fatalf("ListAudit: got more than %d pages, want 3", page)
		}
		q.Before = entries[len(entries)-1].GetEntryId()
	}
	if len(got) != len(want) {
		t.Fatalf("entries: got %d, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}

	k2, more, err := s.ListAudit(ctx, keystore.AuditQuery{KeyID: "audit-k2", Limit: 10})
	if err != nil {
		t.Fatalf("ListAudit by key: %v", err)
	}
	if more || len(k2) != 2 {
		t.Errorf("entries of audit-k2: got %d (more %v), want 2", len(k2), more)
	}
	for _, e := range k2 {
		if e.GetKeyId() != "audit-k2" {
			t.Errorf("filtered entry: got key %q, want audit-k2", e.GetKeyId())
		}
	}
	if _, _, err := s.ListAudit(ctx, keystore.AuditQuery{}); err == nil {
		t.Errorf("ListAudit without a limit: got nil error, want one")
	}
}

// TestSharedDatabase opens the store over a database that another service's goose
// migrations (default version table, already at a higher version) have used: the
// gateway's own migrations must still run.
func TestSharedDatabase(t *testing.T) {
	t.Parallel()
	cfg := keystoretest.SQLite(t)
	db, err := sql.Open("sqlite", "file:"+cfg.SQLitePath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')))`,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1), (2, 1), (3, 1)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := keystoretest.Open(t, cfg)
	if err := s.InsertKey(t.Context(), &gatewayv1.Key{KeyId: "k", CreatedAt: timestamppb.New(base)}, hashOf("k")); err != nil {
		t.Errorf("InsertKey in a shared database: %v", err)
	}
}
