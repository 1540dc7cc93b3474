//go:build integration

package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
)

// PostgresSchema creates an empty schema of its own in the STRATA_POSTGRES_URL database
// for the test, dropped when it ends, and returns a URL whose connections use it.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("STRATA_POSTGRES_URL")
	if raw == "" {
		t.Fatal("STRATA_POSTGRES_URL is not set: run under make check, or eval \"$(scripts/infra env)\"")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "crm_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse STRATA_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	runContract(t, Config{PostgresURL: PostgresSchema(t)})
}
