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
	runServiceScenario(t, brokers, flushedRedis(t, addr))
}

// flushedRedis empties the package's database of the shared Redis and returns its config.
func flushedRedis(tb testing.TB, addr string) cache.Config {
	tb.Helper()
	redis := cache.Config{Addrs: []string{addr}, DB: redisDB}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb, err := cache.Open(ctx, redis)
	if err != nil {
		tb.Fatalf("open redis: %v", err)
	}
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		tb.Fatalf("flush redis db %d: %v", redisDB, err)
	}
	return redis
}

// BenchmarkRecommendGRPCRealRedis is BenchmarkRecommendGRPC on real Kafka and Redis:
//
//	eval "$(scripts/infra env)"
//	go test -tags integration -run '^$' -bench RecommendGRPCRealRedis ./services/recommendation
func BenchmarkRecommendGRPCRealRedis(b *testing.B) {
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	addr := os.Getenv("STRATA_REDIS_ADDR")
	if len(brokers) == 0 || addr == "" {
		b.Fatal("STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR must be set (eval \"$(scripts/infra env)\")")
	}
	benchRecommendGRPC(b, brokers, flushedRedis(b, addr))
}
