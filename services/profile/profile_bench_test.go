package profile_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/services/profile"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store/storetest"
)

// benchDB is the Redis database BenchmarkInstance owns on the real Redis (it flushes it).
const benchDB = 13

// BenchmarkInstance measures one profile instance end to end on real Kafka and Redis:
// b.N events are published first, then the instance starts (restore, group join) and the
// clock runs until every event is in Redis. Run it with a fixed count, e.g.
// -benchtime=5000x; it skips without STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR.
func BenchmarkInstance(b *testing.B) {
	brokers, addr := bus.ParseBrokers(os.Getenv(bus.EnvBrokers)), os.Getenv("STRATA_REDIS_ADDR")
	if len(brokers) == 0 || addr == "" {
		b.Skip("set STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR (eval \"$(scripts/infra env)\")")
	}
	ctx := context.Background()
	tp := profile.Topics{
		Events: bustest.Topic(b, brokers, 6), Predictions: bustest.Topic(b, brokers, 6), Profiles: bustest.Topic(b, brokers, 6),
		Segments: bustest.Topic(b, brokers, 6), SegmentDefinitions: bustest.Topic(b, brokers, 1), Group: bustest.Group(b),
	}
	users := max(b.N/10, 1)
	now := time.Now()
	msgs := make([]bus.Message, b.N)
	for i := range b.N {
		user := fmt.Sprintf("bench-%06d", i%users)
		msgs[i] = message(b, tp.Events, user, track(user, state.EventLessonCompleted, now.Add(time.Duration(i)*time.Millisecond), map[string]any{"minutes": 10}))
	}
	if err := bustest.Producer(b, brokers, bus.ProducerConfig{}).Publish(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	s := storetest.Open(b, cache.Config{Addrs: []string{addr}, DB: benchDB})
	storetest.Flush(b, s)

	b.ResetTimer()
	start(b, profile.Config{
		Kafka: bus.Config{Brokers: brokers}, Redis: cache.Config{Addrs: []string{addr}, DB: benchDB}, Topics: tp,
		TuneConsumer: bustest.ConsumerTuning,
	})
	var first time.Time
	eventually(b, 30*time.Minute, "every event applied", func() bool {
		e, _ := progress(b, s)
		if e > 0 && first.IsZero() {
			first = time.Now()
		}
		return e == int64(b.N)
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/time.Since(first).Seconds(), "events/s-after-first")
}
