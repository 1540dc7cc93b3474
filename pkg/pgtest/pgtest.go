// Package pgtest gives integration tests a PostgreSQL schema of their own in the
// database named by STRATA_POSTGRES_URL, so tests of several services can share one
// server (and run in parallel) without seeing each other's tables. Schemas are dropped
// when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Schema creates an empty schema named prefix plus a random suffix in the
// STRATA_POSTGRES_URL database, dropped when the test ends, and returns a URL whose
// connections use it (search_path). It fails the test when the variable is not set.
// Safe for parallel tests.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	raw := os.Getenv("STRATA_POSTGRES_URL")
	if raw == "" {
		t.Fatal("STRATA_POSTGRES_URL is not set: run under make check, or eval \"$(scripts/infra env)\"")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("pgtest: parse STRATA_POSTGRES_URL: %v", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := prefix + "_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatalf("pgtest: open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
