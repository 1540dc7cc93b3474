// Package storetest gives tests an empty CRM database of their own: a SQLite file in
// the test's temporary directory, or a fresh schema (pkg/pgtest) in the PostgreSQL database named by
// STRATA_POSTGRES_URL (integration tests). Each helper registers its cleanup with
// t.Cleanup and is safe to use from parallel tests.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stratahq/strata/pkg/pgtest"
	"github.com/stratahq/strata/services/crm/store"
)

// SQLite returns the configuration of a new SQLite database, removed when the test
// ends.
func SQLite(t testing.TB) store.Config {
	t.Helper()
	return store.Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")}
}

// Postgres creates an empty schema in the STRATA_POSTGRES_URL database, dropped when
// the test ends, and returns a configuration whose connections use it. It fails the
// test when the variable is not set.
func Postgres(t testing.TB) store.Config {
	t.Helper()
	return store.Config{PostgresURL: pgtest.Schema(t, "crm_test")}
}

// Open opens cfg, closed when the test ends.
func Open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
