//go:build integration

package strata_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/suitetest"
)

// TestEndToEndReal runs the end-to-end scenarios against real Kafka, Redis and
// PostgreSQL, as provisioned by scripts/infra (make check).
func TestEndToEndReal(t *testing.T) {
	env := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is not set: run under make check, or eval \"$(scripts/infra up)\"", name)
		}
		return v
	}
	cfg := strata.Config{
		Brokers:     strings.Split(env("STRATA_KAFKA_BROKERS"), ","),
		RedisAddrs:  []string{env("STRATA_REDIS_ADDR")},
		PostgresURL: env("STRATA_POSTGRES_URL"),
		WriteKeys:   map[string]string{"it-write-key": "integration"},
		AdminKeys:   []string{"it-admin-key"},
	}
	s := suitetest.Start(t, cfg)
	s.WriteKey, s.AdminKey = "it-write-key", "it-admin-key"
	suitetest.RunEndToEnd(t, s)
}
