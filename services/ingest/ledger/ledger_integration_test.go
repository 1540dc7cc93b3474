//go:build integration

package ledger_test

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestContractRedis(t *testing.T) {
	t.Parallel()
	addr := os.Getenv("STRATA_REDIS_ADDR")
	if addr == "" {
		t.Fatalf("STRATA_REDIS_ADDR is not set: eval \"$(scripts/infra env)\"")
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { _ = rdb.Close() })
	runContract(t, rdb)
}
