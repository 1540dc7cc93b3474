// Package keystoretest gives tests an empty key database of their own: a SQLite file in
// the test's temporary directory, or a fresh schema in the PostgreSQL database named by
// STRATA_POSTGRES_URL (integration tests). Each helper registers its cleanup with
// t.Cleanup and is safe to use from parallel tests.
package keystoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/stratahq/strata/services/gateway/keystore"
)

// SQLite returns the configuration of a new SQLite database, removed when the test
// ends.
func SQLite(t testing.TB) keystore.Config {
	t.Helper()
	return keystore.Config{SQLitePath: filepath.Join(t.TempDir(), "gateway.db")}
}

// Postgres creates an empty schema in the STRATA_POSTGRES_URL database, dropped when
// the test ends, and returns a configuration whose connections use it. It fails the
// test when the variable is not set.
func Postgres(t testing.TB) keystore.Config {
	t.Helper()
	raw := os.Getenv("STRATA_POSTGRES_URL")
	if raw == "" {
		t.Fatal("STRATA_POSTGRES_URL is not set: run under make check, or eval \"$(scripts/infra env)\"")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "gateway_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatalf("keystoretest: open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("keystoretest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("keystoretest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("keystoretest: parse STRATA_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return keystore.Config{PostgresURL: u.String()}
}

// Open opens cfg, closed when the test ends.
func Open(t testing.TB, cfg keystore.Config) *keystore.Store {
	t.Helper()
	s, err := keystore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("keystoretest: open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
