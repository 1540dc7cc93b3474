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
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/devstack"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest"
	"github.com/stratahq/strata/services/ingest/ingesttest"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/segment"
)

// The benchmarks measure ingest into real Kafka with acks=all, as DESIGN.md's target is
// stated, side by side with a bare kafka-go producer writing the same bytes (the
// ceiling). They skip without STRATA_KAFKA_BROKERS; Redis is the real one when
// STRATA_REDIS_ADDR is set, else an embedded one.
//
// Each operation is one request (or one WriteMessages call) of batchSize events, sent by
// clients×GOMAXPROCS concurrent clients (64 on the 2-core machine: an instance's
// capacity is measured with enough requests in flight to keep it busy, as many SDKs
// would; with few, the figure is the latency of one request chain, not throughput); each benchmark writes to a topic of its own (6
// partitions) so the suite's consumers are not flooded, and checks at the end that the
// topic holds every event it reports. The load is one body: batchSize track events with
// properties and a batch context, as analytics-go sends them, with messageIds unique to
// each request (so every event passes the dedup window and is published) and user ids
// fixed per position. Clients patch the ids into a copy of the body, so that generating
// load costs little of the shared CPU; the bare producer writes the records ingest
// publishes for that body, encoded once.
//
//	eval "$(scripts/infra env)"
//	cd services/ingest && go test -run '^$' -bench . -benchtime 10s
const (
	batchSize = 100
	clients   = 32
)

// benchStack returns real Kafka, or skips, and Redis, and a new topic.
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

// load is the benchmark body with the places of its request number.
type load struct {
	body []byte
	// slots are the offsets of the idDigits-wide request numbers in body.
	slots []int
}

const idDigits = 12

// newLoad returns the body; runID makes its messageIds unique to the benchmark run.
func newLoad(runID string) load {
	var buf bytes.Buffer
	buf.WriteString(`{"batch":[`)
	var slots []int
	for i := range batchSize {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"type":"track","event":"Lesson Completed","userId":"user-%05d","messageId":"%s-`, i*397%50000, runID)
		slots = append(slots, buf.Len())
		fmt.Fprintf(&buf, `%0*d-%03d","timestamp":"2026-03-01T11:59:59.250Z","properties":{"course_id":"c-%d","lesson_id":"l-%d","minutes":12,"progress":0.5,"tags":["go","kafka"]}}`,
			idDigits, 0, i, i%300, i)
	}
	buf.WriteString(`],"sentAt":"2026-03-01T12:00:00Z","context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`)
	return load{body: buf.Bytes(), slots: slots}
}

// request writes the body of request n into dst (len(l.body) bytes).
func (l load) request(dst []byte, n int64) []byte {
	dst = append(dst[:0], l.body...)
	var num [idDigits]byte
	s := strconv.AppendInt(num[:0], n, 10)
	digits := bytes.Repeat([]byte{'0'}, idDigits-len(s))
	digits = append(digits, s...)
	for _, at := range l.slots {
		copy(dst[at:at+idDigits], digits)
	}
	return dst
}

// records returns what ingest publishes for request n of l: the events and the Kafka
// records, encoded by the pipeline itself.
func (l load) records(b *testing.B, n int64) ([]*eventv1.Event, []bus.Message) {
	b.Helper()
	decoded, err := segment.DecodeBatch(l.request(nil, n), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	events := make([]*eventv1.Event, len(decoded))
	for i, d := range decoded {
		if d.Err != nil {
			b.Fatal(d.Err)
		}
		events[i] = d.Event
		events[i].SourceId = ingesttest.Source
	}
	rec := &bustest.Recorder{}
	p, err := pipeline.New(rec)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Accept(context.Background(), events...); err != nil {
		b.Fatal(err)
	}
	return events, rec.Messages()
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

// cpuTime is the CPU time this process used so far (user and system): the client, and
// for ingest the service too, but not Kafka or Redis.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report checks that topic holds every event the run acknowledged, then reports
// events/s, the process's CPU time per event (steadier than events/s on a shared
// machine) and the p50 and p99 latency of one request.
func (l *latencies) report(b *testing.B, brokers []string, topic string, elapsed, cpu time.Duration, ops int64) {
	b.Helper()
	if got, want := topicRecords(b, brokers, topic), ops*batchSize; got < want {
		b.Fatalf("%s holds %d records, want at least the %d acknowledged", topic, got, want)
	}
	b.ReportMetric(float64(ops*batchSize)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(ops*batchSize), "cpu-µs/event")
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

// topicRecords sums the end offsets of topic's partitions.
func topicRecords(b *testing.B, brokers []string, topic string) int64 {
	b.Helper()
	var n int64
	for _, po := range ingesttest.EndOffsets(b, brokers, topic) {
		n += po.LastOffset
	}
	return n
}

var runSeq atomic.Int64

func runID(kind string) string {
	return kind + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(runSeq.Add(1), 10)
}

func BenchmarkSegmentBatch(b *testing.B) {
	stack, topic := benchStack(b)
	inst := benchInstance(b, stack, topic)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	l := newLoad(runID("seg"))
	var (
		seq  atomic.Int64
		lats latencies
		fail atomic.Int64
	)
	b.SetBytes(int64(len(l.body)))
	b.SetParallelism(clients)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		var body []byte
		for pb.Next() {
			body = l.request(body, seq.Add(1))
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
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	lats.report(b, stack.Brokers, topic, elapsed, cpu, int64(b.N))
}

func BenchmarkGRPCIngestBatch(b *testing.B) {
	stack, topic := benchStack(b)
	inst := benchInstance(b, stack, topic)
	// A few connections, as a client pool would hold.
	conns := make([]ingestv1.IngestServiceClient, 4)
	for i := range conns {
		conns[i] = dial(b, inst.GRPC)
	}
	l := newLoad(runID("grpc"))
	template, _ := l.records(b, 0)
	var (
		seq  atomic.Int64
		lats latencies
		fail atomic.Int64
	)
	b.SetParallelism(clients)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		events := make([]*eventv1.Event, len(template))
		for i, ev := range template {
			events[i] = proto.CloneOf(ev)
		}
		req := &ingestv1.IngestBatchRequest{Events: events}
		for pb.Next() {
			n := seq.Add(1)
			suffix := "-" + strconv.FormatInt(n, 10)
			for i, ev := range events {
				ev.EventId = template[i].GetEventId() + suffix
			}
			t0 := time.Now()
			_, err := conns[n%int64(len(conns))].IngestBatch(context.Background(), req)
			mine = append(mine, time.Since(t0))
			if err != nil {
				fail.Add(1)
			}
		}
		lats.add(mine)
	})
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	lats.report(b, stack.Brokers, topic, elapsed, cpu, int64(b.N))
}

// BenchmarkBareProducer is the ceiling: a kafka-go Writer configured as package bus
// configures it (acks=all, lz4, murmur2, 2ms batch timeout), writing the records ingest
// publishes for the benchmark body (same keys, values and headers), batchSize per
// WriteMessages call, with the same concurrency.
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
	_, records := newLoad(runID("bare")).records(b, 1)
	var (
		lats latencies
		fail atomic.Int64
	)
	b.SetParallelism(clients)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		msgs := make([]kafka.Message, len(records))
		for pb.Next() {
			for i, r := range records {
				headers := make([]kafka.Header, len(r.Headers))
				for j, h := range r.Headers {
					headers[j] = kafka.Header{Key: h.Key, Value: h.Value}
				}
				msgs[i] = kafka.Message{Key: r.Key, Value: r.Value, Headers: headers}
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
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d writes failed", n, b.N)
	}
	lats.report(b, stack.Brokers, topic, elapsed, cpu, int64(b.N))
}

// BenchmarkRawTopic measures ingest consuming strata.events.raw.v1, as upstream Kafka
// producers feed it: b.N records, each the benchmark body (a Segment batch of batchSize
// events), written by a bare producer to a raw topic of the benchmark's own while an
// instance consumes it (its own group) and publishes the events; the clock runs from
// the first write until the events topic holds every event.
func BenchmarkRawTopic(b *testing.B) {
	stack, topic := benchStack(b)
	raw := bustest.Topic(b, stack.Brokers, 6)
	ingesttest.Start(b, stack, func(c *ingest.Config) {
		c.EventsTopic = topic
		c.DedupWindow = time.Minute // keep real Redis small
		c.Consumer.GroupID, c.Consumer.Topics = bustest.Group(b), []string{raw}
	})
	w := &kafka.Writer{
		Addr: kafka.TCP(stack.Brokers...), Topic: raw, Balancer: &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 100,
		BatchBytes: 16 << 20, WriteTimeout: 10 * time.Second, Compression: kafka.Lz4,
		Transport: &kafka.Transport{ClientID: "bench"},
	}
	b.Cleanup(func() { _ = w.Close() })
	l := newLoad(runID("raw"))
	msgs := make([]kafka.Message, b.N)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: l.request(nil, int64(i))}
	}
	want := int64(b.N) * batchSize
	b.SetBytes(int64(len(l.body)))
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	for chunk := range slices.Chunk(msgs, 500) {
		if err := w.WriteMessages(context.Background(), chunk...); err != nil {
			b.Fatalf("write raw records: %v", err)
		}
	}
	for topicRecords(b, stack.Brokers, topic) < want {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%s holds %d of %d events after 5 minutes", topic, topicRecords(b, stack.Brokers, topic), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(want), "cpu-µs/event")
}
