package updater_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store/storetest"
	"github.com/stratahq/strata/services/profile/updater"
)

// benchDB is the Redis database the benchmarks own on a real Redis (they flush it).
const benchDB = 12

// benchEvents returns n encoded events spread over users, a user's events in time order.
func benchEvents(b *testing.B, n, users int) []bus.Message {
	b.Helper()
	base := time.Now().Add(-30 * 24 * time.Hour)
	names := []string{state.EventLessonCompleted, state.EventProductViewed, state.EventLessonStarted, state.EventOrderCompleted, "page"}
	out := make([]bus.Message, n)
	for i := range n {
		user := fmt.Sprintf("bench-%06d", i%users)
		props, _ := structpb.NewStruct(map[string]any{"minutes": 12, "category": "data", "tags": []any{"go", "sql"}, "revenue": 9.9})
		ev := &eventv1.Event{EventId: fmt.Sprintf("b-%d", i), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: names[i%len(names)],
			UserId: user, Timestamp: timestamppb.New(base.Add(time.Duration(i) * time.Second)), Properties: props}
		v, err := proto.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = bus.Message{Topic: topics.Events, Key: []byte(user), Value: v, Partition: 0, Offset: int64(i)}
	}
	return out
}

// BenchmarkFold measures the pure state: decode, fold and derive, per event.
func BenchmarkFold(b *testing.B) {
	msgs := benchEvents(b, 10_000, 1_000)
	profiles := map[string]*profilev1.Profile{}
	params, d := state.DefaultParams(), state.Deriver{}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := msgs[i%len(msgs)]
		ev := &eventv1.Event{}
		if err := proto.Unmarshal(m.Value, ev); err != nil {
			b.Fatal(err)
		}
		user := string(m.Key)
		p, _ := params.Apply(profiles[user], user, ev, &profilev1.Position{Offset: int64(i)}, nil)
		d.Derive(p, now, nil)
		if _, err := proto.Marshal(p); err != nil {
			b.Fatal(err)
		}
		profiles[user] = p
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleRedis measures Handle with profiles in Redis (embedded, or the real one
// in STRATA_REDIS_ADDR) and a segment evaluated on every change; the changelog publish is
// recorded in memory, so the figure is the fold plus the Redis round trips.
func BenchmarkHandleRedis(b *testing.B) {
	s, _ := storetest.Embedded(b)
	if addr := os.Getenv("STRATA_REDIS_ADDR"); addr != "" {
		s = storetest.Open(b, cache.Config{Addrs: []string{addr}, DB: benchDB})
		storetest.Flush(b, s)
	}
	c, err := segment.NewCompiler()
	if err != nil {
		b.Fatal(err)
	}
	reg := segment.NewRegistry(c)
	if _, err := reg.Put(&profilev1.Segment{SegmentId: "keen", Rule: `p.aggregates.d7.lessons_completed >= 3`, Version: 1}); err != nil {
		b.Fatal(err)
	}
	u := updater.New(s, &bustest.Recorder{}, updater.WithSegments(reg, s))
	msgs := benchEvents(b, max(b.N, 1), 1_000)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := u.Handle(ctx, msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleRealInfra measures Handle against real Redis and real Kafka (the
// changelog published with acks=all), one event at a time as the consumer runs it. It
// skips without STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR.
func BenchmarkHandleRealInfra(b *testing.B) {
	u := realInfraUpdater(b, time.Microsecond)
	msgs := benchEvents(b, max(b.N, 1), 1_000)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := u.Handle(ctx, msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleBatchRealInfra measures HandleBatch against real Redis and real Kafka
// (the changelog published with acks=all) with batches of 2,000 events over 20,000 users,
// as the consumer runs it under load. It skips without STRATA_KAFKA_BROKERS and
// STRATA_REDIS_ADDR.
func BenchmarkHandleBatchRealInfra(b *testing.B) {
	u := realInfraUpdater(b, 50*time.Microsecond)
	msgs := benchEvents(b, max(b.N, 1), 20_000)
	ctx := context.Background()
	b.ResetTimer()
	for batch := range slices.Chunk(msgs[:b.N], 2_000) {
		if err := u.HandleBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// realInfraUpdater returns an updater on the real Redis (database benchDB, flushed) whose
// changelog goes to a new topic on the real Kafka, published with batchTimeout; it skips
// the benchmark without STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR.
func realInfraUpdater(b *testing.B, batchTimeout time.Duration) *updater.Updater {
	brokers, addr := bus.ParseBrokers(os.Getenv(bus.EnvBrokers)), os.Getenv("STRATA_REDIS_ADDR")
	if len(brokers) == 0 || addr == "" {
		b.Skip("set STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR (eval \"$(scripts/infra env)\")")
	}
	s := storetest.Open(b, cache.Config{Addrs: []string{addr}, DB: benchDB})
	storetest.Flush(b, s)
	changelog := bustest.Topic(b, brokers, 6)
	return updater.New(s, bustest.Producer(b, brokers, bus.ProducerConfig{BatchTimeout: batchTimeout}),
		updater.WithTopics(updater.Topics{Events: topics.Events, Predictions: topics.Predictions, Profiles: changelog, Segments: changelog}))
}
