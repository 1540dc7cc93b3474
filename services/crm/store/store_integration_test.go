//go:build integration

package store

import (
	"os"
	"testing"
)

func TestPostgres(t *testing.T) {
	url := os.Getenv("STRATA_POSTGRES_URL")
	if url == "" {
		t.Fatal("STRATA_POSTGRES_URL is not set: run under make check, or eval \"$(scripts/infra up)\"")
	}
	runContract(t, Config{PostgresURL: url})
}
