package recommendation

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/engine"
)

// BenchmarkRecommendGRPC measures Recommend through the service's gRPC server (loopback,
// parallel clients) with lists precomputed in Redis, on the embedded stack.
func BenchmarkRecommendGRPC(b *testing.B) {
	mr := miniredis.RunT(b)
	benchRecommendGRPC(b, bustest.Brokers(b), cache.Config{Addrs: []string{mr.Addr()}})
}

// benchRecommendGRPC starts the service, trains it on 200 users over 100 items and
// measures cached Recommend calls of those users from 8 goroutines per CPU; it reports
// the latency percentiles besides ns/op (which is per call, across all goroutines).
func benchRecommendGRPC(b *testing.B, brokers []string, redis cache.Config) {
	tp := Topics{Events: bustest.Topic(b, brokers, 3), Catalog: bustest.Topic(b, brokers, 3), Segments: bustest.Topic(b, brokers, 3), SegmentDefinitions: bustest.Topic(b, brokers, 1), Group: bustest.Group(b)}
	conn := startService(b, Config{
		Kafka: bus.Config{Brokers: brokers}, Redis: redis, Topics: tp, TrainDelay: time.Hour, TrainInterval: time.Hour,
		Engine: &engine.Config{RedisTimeout: time.Second},
	})
	client := recommendationv1.NewRecommendationServiceClient(conn)
	ctx := b.Context()
	sfx := suffix()
	const users, items = 200, 100
	var msgs []bus.Message
	for u := range users {
		var products []any
		for k := range 8 {
			products = append(products, map[string]any{"product_id": fmt.Sprintf("i%d-%s", (u*7+k*k+u%5*k)%items, sfx), "category": fmt.Sprintf("c%d", k%4)})
		}
		msgs = append(msgs, event(b, tp.Events, fmt.Sprintf("u%d-%s", u, sfx), "Order Completed", map[string]any{"order_id": "o", "products": products}))
	}
	if err := bustest.Producer(b, brokers, bus.ProducerConfig{}).Publish(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	// Redis starts empty: the run has every user once all the events are consumed.
	eventually(b, 90*time.Second, "a training over every user of the benchmark", func() bool {
		r, err := client.Train(ctx, &recommendationv1.TrainRequest{Wait: true})
		return err == nil && r.GetUsers() >= users && r.GetListsWritten() >= users
	})
	var (
		mu   sync.Mutex
		lats []time.Duration
		next int
	)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		mu.Lock()
		u := next
		next++
		mu.Unlock()
		for pb.Next() {
			u++
			start := time.Now()
			resp, err := client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: fmt.Sprintf("u%d-%s", u%users, sfx), N: 10})
			local = append(local, time.Since(start))
			if err != nil || resp.GetSource() != "cache" {
				b.Errorf("Recommend: got source %q, err %v; want a cache hit", resp.GetSource(), err)
				return
			}
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lats)
	if n := len(lats); n > 0 {
		b.ReportMetric(float64(lats[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lats[n*99/100].Microseconds()), "p99-µs")
	}
}
