package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/devstack"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest"
	"github.com/stratahq/strata/services/ingest/ingesttest"
)

// The benchmarks measure ingest into real Kafka with acks=all, as DESIGN.md's target is
// stated, side by side with a bare kafka-go producer writing the same bytes (the
// ceiling). They skip without STRATA_KAFKA_BROKERS; Redis is the real one when
// STRATA_REDIS_ADDR is set, else an embedded one. Each operation is one request (or one
// WriteMessages call) of batchSize events, sent by 4×GOMAXPROCS concurrent clients; each
// writes to a topic of its own so the suite's consumers are not flooded.
//
//	eval "$(scripts/infra env)"
//	cd services/ingest && go test -run '^$' -bench . -benchmem -benchtime 10s
const (
	batchSize   = 100
	parallelism = 4
)

// benchStack returns real Kafka, or skips, and Redis.
func benchStack(b *testing.B) (ingesttest.Stack, string) {
	b.Helper()
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	if len(brokers) == 0 {
		b.Skipf("%s is not set: the ingest benchmarks need real Kafka (eval \"$(scripts/infra env)\")", bus.EnvBrokers)
	}
	redis := os.Getenv("STRATA_REDIS_ADDR")
	if redis == "" {
		r, err := devstack.StartRedis()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Close() })
		redis = r.Addr()
	}
	return ingesttest.Stack{Brokers: brokers, RedisAddr: redis}, bustest.Topic(b, brokers, 6)
}

func benchInstance(b *testing.B, stack ingesttest.Stack, topic string) *ingesttest.Instance {
	return ingesttest.Start(b, stack, func(c *ingest.Config) {
		c.EventsTopic = topic
		c.DisableRawConsumer = true
		c.DedupWindow = time.Minute // keep real Redis small
		c.MaxInFlightRequests = 4096
		c.MaxInFlightBytes = 256 << 20
	})
}

// latencies collects request latencies from parallel clients.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d...)
}

// report reports events/s and the p50 and p99 latency of one request.
func (l *latencies) report(b *testing.B, elapsed time.Duration, ops int64) {
	b.Helper()
	b.ReportMetric(float64(ops*batchSize)/elapsed.Seconds(), "events/s")
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		return float64(l.all[min(len(l.all)-1, int(q*float64(len(l.all))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

var runID atomic.Int64

// segmentBody returns a /v1/batch body of batchSize track events with unique messageIds.
func segmentBody(prefix string, n int64) []byte {
	var buf bytes.Buffer
	buf.Grow(batchSize * 260)
	buf.WriteString(`{"sentAt":"2026-03-01T12:00:00Z","context":{"library":{"name":"bench"}},"batch":[`)
	for i := range batchSize {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"type":"track","event":"Lesson Completed","userId":"user-%d","messageId":"%s-%d-%d","timestamp":"2026-03-01T11:59:59Z","properties":{"course_id":"c-%d","minutes":12,"progress":0.5}}`,
			(n*batchSize+int64(i))%50000, prefix, n, i, i%300)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

func BenchmarkSegmentBatch(b *testing.B) {
	stack, topic := benchStack(b)
	inst := benchInstance(b, stack, topic)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	prefix := "seg" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(runID.Add(1), 10)
	var (
		seq  atomic.Int64
		lats latencies
		fail atomic.Int64
	)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := segmentBody(prefix, seq.Add(1))
			req, _ := http.NewRequest(http.MethodPost, inst.URL()+"/v1/batch", bytes.NewReader(body))
			req.SetBasicAuth(ingesttest.WriteKey, "")
			req.Header.Set("Content-Type", "application/json")
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				fail.Add(1)
				continue
			}
			_ = resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if resp.StatusCode != http.StatusOK {
				fail.Add(1)
			}
		}
		lats.add(mine)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	lats.report(b, elapsed, int64(b.N))
}

// grpcBatch returns batchSize events with unique ids.
func grpcBatch(prefix string, n int64, props *structpb.Struct, ts *timestamppb.Timestamp) []*eventv1.Event {
	evs := make([]*eventv1.Event, batchSize)
	for i := range evs {
		evs[i] = &eventv1.Event{
			EventId:    prefix + "-" + strconv.FormatInt(n, 10) + "-" + strconv.Itoa(i),
			Type:       eventv1.EventType_EVENT_TYPE_TRACK,
			Event:      "Lesson Completed",
			UserId:     "user-" + strconv.FormatInt((n*batchSize+int64(i))%50000, 10),
			Timestamp:  ts,
			SourceId:   "bench",
			Properties: props,
		}
	}
	return evs
}

func benchProps() *structpb.Struct {
	props, _ := structpb.NewStruct(map[string]any{"course_id": "c-1", "minutes": 12, "progress": 0.5})
	return props
}

func BenchmarkGRPCIngestBatch(b *testing.B) {
	stack, topic := benchStack(b)
	inst := benchInstance(b, stack, topic)
	prefix := "grpc" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(runID.Add(1), 10)
	// A few connections, as a client pool would hold.
	clients := make([]ingestv1.IngestServiceClient, 4)
	for i := range clients {
		clients[i] = dial(b, inst.GRPC)
	}
	props, ts := benchProps(), timestamppb.Now()
	var (
		seq  atomic.Int64
		lats latencies
		fail atomic.Int64
	)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			n := seq.Add(1)
			req := &ingestv1.IngestBatchRequest{Events: grpcBatch(prefix, n, props, ts)}
			t0 := time.Now()
			_, err := clients[n%int64(len(clients))].IngestBatch(context.Background(), req)
			mine = append(mine, time.Since(t0))
			if err != nil {
				fail.Add(1)
			}
		}
		lats.add(mine)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	lats.report(b, elapsed, int64(b.N))
}

// BenchmarkBareProducer is the ceiling: a kafka-go Writer configured as package bus
// configures it (acks=all, lz4, murmur2, 2ms batch timeout), writing the protobuf events
// ingest would write, batchSize per WriteMessages call, with the same concurrency.
func BenchmarkBareProducer(b *testing.B) {
	stack, topic := benchStack(b)
	w := &kafka.Writer{
		Addr:         kafka.TCP(stack.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    1000,
		WriteTimeout: 10 * time.Second,
		Compression:  kafka.Lz4,
		Transport:    &kafka.Transport{ClientID: "bench"},
	}
	b.Cleanup(func() { _ = w.Close() })
	prefix := "bare" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(runID.Add(1), 10)
	props, ts := benchProps(), timestamppb.Now()
	var (
		seq  atomic.Int64
		lats latencies
		fail atomic.Int64
	)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		msgs := make([]kafka.Message, batchSize)
		for pb.Next() {
			for i, ev := range grpcBatch(prefix, seq.Add(1), props, ts) {
				ev.ReceivedAt = ts
				value, err := proto.Marshal(ev)
				if err != nil {
					b.Error(err)
					return
				}
				msgs[i] = kafka.Message{Key: []byte(ev.GetUserId()), Value: value, Headers: []kafka.Header{
					{Key: "content-type", Value: []byte("application/x-protobuf")},
					{Key: "strata-event-id", Value: []byte(ev.GetEventId())},
				}}
			}
			t0 := time.Now()
			err := w.WriteMessages(context.Background(), msgs...)
			mine = append(mine, time.Since(t0))
			if err != nil {
				fail.Add(1)
			}
		}
		lats.add(mine)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d writes failed", n, b.N)
	}
	lats.report(b, elapsed, int64(b.N))
}
