//go:build integration

package store_test

import (
	"os"
	"testing"

	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
)

// redisDB is the database the profile service's integration tests own on the shared
// Redis: they flush it.
const redisDB = 9

func TestContractRealRedis(t *testing.T) {
	addr := os.Getenv("STRATA_REDIS_ADDR")
	if addr == "" {
		t.Fatal("STRATA_REDIS_ADDR is not set")
	}
	storetest.RunContract(t, func(t *testing.T) *store.Store {
		s := storetest.Open(t, cache.Config{Addrs: []string{addr}, DB: redisDB})
		storetest.Flush(t, s)
		return s
	})
}
