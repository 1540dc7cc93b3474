//go:build integration

package replay_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/replay"
	"github.com/stratahq/strata/services/strata/suitetest"
)

// TestReplayReal replays the first rows of MovieLens (ml-latest-small) and of the CDNOW
// sample through a suite on real Kafka, Redis and PostgreSQL and checks that every event
// and every user arrives as a profile.
func TestReplayReal(t *testing.T) {
	env := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is not set: run under make check, or eval \"$(scripts/infra env)\"", name)
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
	ratings := dataset(t, "ml-latest-small")
	cdnow := dataset(t, "cdnow", "CDNOW_sample.txt")

	s := suitetest.Start(t, cfg)
	s.WriteKey, s.AdminKey = "it-write-key", "it-admin-key"
	// Real infrastructure keeps earlier runs' profiles: a fresh prefix keeps this run's
	// users apart.
	prefix := suitetest.UserID("it") + "-"
	ml, err := replay.OpenMovieLens(ratings, replay.Options{Prefix: prefix, Limit: movieLensRows})
	if err != nil {
		t.Fatal(err)
	}
	cd, err := replay.OpenCDNOW(cdnow, replay.Options{Prefix: prefix, Limit: cdnowRows})
	if err != nil {
		t.Fatal(err)
	}
	if ml.Len() != movieLensRows || cd.Len() != cdnowRows {
		t.Fatalf("read %d ratings and %d purchases, want %d and %d", ml.Len(), cd.Len(), movieLensRows, cdnowRows)
	}
	t.Logf("%d ratings of %d users, %d purchases of %d customers", ml.Len(), ml.Users(), cd.Len(), cd.Users())
	replayThroughSuite(t, s, prefix, 2*time.Minute, ml, cd)
}
