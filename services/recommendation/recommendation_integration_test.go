//go:build integration

package recommendation

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
)

// redisDB is the database of the shared Redis this package's integration tests own and
// flush; other packages use other databases.
const redisDB = 12

// TestServiceRealInfrastructure runs the service scenario against real Kafka and Redis.
func TestServiceRealInfrastructure(t *testing.T) {
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	addr := os.Getenv("STRATA_REDIS_ADDR")
	if len(brokers) == 0 || addr == "" {
		t.Fatal("STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR must be set (eval \"$(scripts/infra env)\")")
	}
	redis := cache.Config{Addrs: []string{addr}, DB: redisDB}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rdb, err := cache.Open(ctx, redis)
	if err != nil {
		t.Fatalf("open redis: %v", err)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush redis db %d: %v", redisDB, err)
	}
	_ = rdb.Close()
	runServiceScenario(t, brokers, redis)
}
