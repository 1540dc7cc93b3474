package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratahq/strata/pkg/bus"
)

// waitFor bounds how long the suite waits for messages to arrive. It guards
// against hangs; nothing asserts how fast delivery is.
const waitFor = 60 * time.Second

// RunConsumerContract runs the delivery contract of bus.Producer and
// bus.Consumer against the Kafka cluster at brokers: at-least-once delivery
// across restarts with no redelivery of committed messages, commit only after
// handling, dead-lettering of poison messages without blocking the partition,
// and trace context propagation from producer to handler. It runs each of
// them for the three ways of consuming: a Handler committing every message
// (the default), a Handler committing every batch (ConsumerConfig.BatchSize),
// and a BatchHandler (bus.NewBatchConsumer), whose failed batches fall back
// to one message at a time under the middleware. It also checks bus.Scan.
// Each subtest uses its own topics and groups, so brokers may be shared.
func RunConsumerContract(t *testing.T, brokers []string) {
	t.Helper()
	for _, m := range modes {
		prefix := ""
		if m.name != "" {
			prefix = m.name + "/"
		}
		t.Run(prefix+"DeliveryAfterRestart", func(t *testing.T) {
			t.Parallel()
			testDeliveryAfterRestart(t, brokers, m)
		})
		t.Run(prefix+"CommitAfterHandling", func(t *testing.T) {
			t.Parallel()
			testCommitAfterHandling(t, brokers, m)
		})
		t.Run(prefix+"PoisonMessageToDLQ", func(t *testing.T) {
			t.Parallel()
			testPoisonMessageToDLQ(t, brokers, m)
		})
		t.Run(prefix+"TraceContextPropagated", func(t *testing.T) {
			t.Parallel()
			testTraceContextPropagated(t, brokers, m)
		})
	}
	t.Run("ScanToEndOffsets", func(t *testing.T) {
		t.Parallel()
		testScan(t, brokers)
	})
}

// mode is a way of consuming under test.
type mode struct {
	name string
	// batchSize, when positive, sets ConsumerConfig.BatchSize.
	batchSize int
	// batch runs the handler through bus.NewBatchConsumer: the batch
	// handler calls it for each message in turn and fails at its first
	// error.
	batch bool
}

var modes = []mode{
	{name: ""},
	{name: "CommitBatches", batchSize: 8},
	{name: "BatchHandler", batchSize: 8, batch: true},
}

// start runs a consumer of this mode; see the package-level start.
func (m mode) start(t testing.TB, ctx context.Context, cancel context.CancelFunc, cfg bus.ConsumerConfig, h bus.Handler, mws ...bus.Middleware) *running {
	t.Helper()
	if m.batchSize > 0 {
		cfg.BatchSize = m.batchSize
		// Long enough that messages published together share a batch.
		cfg.BatchWait = 100 * time.Millisecond
	}
	if !m.batch {
		return start(t, ctx, cancel, cfg, h, mws...)
	}
	var r *running
	ready := make(chan struct{})
	c, err := bus.NewBatchConsumer(cfg, func(ctx context.Context, msgs []bus.Message) error {
		<-ready
		if n := int64(len(msgs)); n > r.maxBatch.Load() {
			r.maxBatch.Store(n)
		}
		if len(msgs) > cfg.BatchSize {
			t.Errorf("batch of %d messages, want at most BatchSize %d", len(msgs), cfg.BatchSize)
		}
		for _, msg := range msgs {
			if err := h(ctx, msg); err != nil {
				return err
			}
		}
		return nil
	}, mws...)
	if err != nil {
		t.Fatalf("NewBatchConsumer: %v", err)
	}
	r = run(t, ctx, cancel, c)
	close(ready)
	return r
}

type record struct {
	key       string
	partition int
	offset    int64
}

// recorder collects what handlers saw, safe for concurrent use.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (r *recorder) add(m bus.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, record{string(m.Key), m.Partition, m.Offset})
	return len(r.recs)
}

func (r *recorder) snapshot() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

func (r *recorder) keys() []string {
	var ks []string
	for _, rec := range r.snapshot() {
		ks = append(ks, rec.key)
	}
	return ks
}

// running is a Consumer.Run in its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
	// maxBatch is the largest batch a batch-mode handler was given.
	maxBatch atomic.Int64
}

func consumerConfig(t testing.TB, brokers []string, group string, tps ...string) bus.ConsumerConfig {
	return ConsumerTuning(bus.ConsumerConfig{
		Config:  bus.Config{Brokers: brokers, ClientID: "bustest", Logger: Logger(t)},
		GroupID: group,
		Topics:  tps,
	})
}

// start runs a consumer until its context is cancelled (by stop, or by the
// handler through cancel).
func start(t testing.TB, ctx context.Context, cancel context.CancelFunc, cfg bus.ConsumerConfig, h bus.Handler, mws ...bus.Middleware) *running {
	t.Helper()
	c, err := bus.NewConsumer(cfg, h, mws...)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	return run(t, ctx, cancel, c)
}

// run runs c until its context is cancelled.
func run(t testing.TB, ctx context.Context, cancel context.CancelFunc, c *bus.Consumer) *running {
	t.Helper()
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the consumer and waits for Run to return; it is idempotent.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
			if err != nil {
				t.Errorf("Run: got error %v, want nil after cancel", err)
			}
		}
	case <-time.After(waitFor):
		t.Fatalf("consumer did not stop within %v of cancel", waitFor)
	}
}

// wait waits until Run returned by itself (its handler cancelled it).
func (r *running) wait(t testing.TB) {
	t.Helper()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
			if err != nil {
				t.Errorf("Run: got error %v, want nil", err)
			}
		}
	case <-time.After(waitFor):
		t.Fatalf("consumer did not stop within %v", waitFor)
	}
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publish(t testing.TB, ctx context.Context, p *bus.Producer, msgs ...bus.Message) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	if err := p.Publish(pctx, msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func testDeliveryAfterRestart(t *testing.T, brokers []string, m mode) {
	const total, firstRun = 30, 10
	topic := Topic(t, brokers, 3)
	group := Group(t)
	p := Producer(t, brokers, bus.ProducerConfig{})
	msgs := make([]bus.Message, total)
	for i := range msgs {
		msgs[i] = bus.Message{Topic: topic, Key: []byte(fmt.Sprintf("user-%02d", i)), Value: []byte(strconv.Itoa(i))}
	}
	publish(t, t.Context(), p, msgs...)

	// First consumer: stops itself while handling its firstRun-th message,
	// which must still be committed (graceful drain). A batch handler
	// finishes its batch, which is committed too.
	var first recorder
	ctx1, cancel1 := context.WithCancel(t.Context())
	r1 := m.start(t, ctx1, cancel1, consumerConfig(t, brokers, group, topic), func(_ context.Context, m bus.Message) error {
		if first.add(m) == firstRun {
			cancel1()
		}
		return nil
	})
	r1.wait(t)
	if got := len(first.snapshot()); got != firstRun && (!m.batch || got < firstRun) {
		t.Fatalf("first consumer handled %d messages, want %d (it stops after the one that cancels, or its batch)", got, firstRun)
	}

	// Second consumer in the same group resumes after the committed offsets.
	var second recorder
	ctx2, cancel2 := context.WithCancel(t.Context())
	r2 := m.start(t, ctx2, cancel2, consumerConfig(t, brokers, group, topic), func(_ context.Context, m bus.Message) error {
		second.add(m)
		return nil
	})
	eventually(t, "all messages handled", func() bool {
		seen := map[string]bool{}
		for _, k := range append(first.keys(), second.keys()...) {
			seen[k] = true
		}
		return len(seen) == total
	})
	r2.stop(t)

	handledFirst := map[string]bool{}
	for _, k := range first.keys() {
		handledFirst[k] = true
	}
	seenSecond := map[string]bool{}
	for _, k := range second.keys() {
		if handledFirst[k] {
			t.Errorf("message %s was committed by the first consumer but delivered again", k)
		}
		if seenSecond[k] {
			t.Errorf("message %s delivered twice to the second consumer", k)
		}
		seenSecond[k] = true
	}
	if m.batch && max(r1.maxBatch.Load(), r2.maxBatch.Load()) < 2 {
		t.Errorf("largest batch: got %d messages, want several (published together)", max(r1.maxBatch.Load(), r2.maxBatch.Load()))
	}
	if got, want := len(second.keys()), total-len(first.keys()); got != want {
		t.Errorf("second consumer handled %d messages, want %d", got, want)
	}
	// Per partition, offsets arrive in order.
	last := map[int]int64{}
	for _, rec := range append(first.snapshot(), second.snapshot()...) {
		if prev, ok := last[rec.partition]; ok && rec.offset <= prev {
			t.Errorf("partition %d: offset %d handled after %d, want increasing", rec.partition, rec.offset, prev)
		}
		last[rec.partition] = rec.offset
	}
}

var errTransient = errors.New("bustest: transient failure")

func testCommitAfterHandling(t *testing.T, brokers []string, m mode) {
	tests := []struct {
		name string
		mws  func(dlq bus.Publisher, dlqTopic string) []bus.Middleware
	}{
		{"retry middleware", func(dlq bus.Publisher, dlqTopic string) []bus.Middleware {
			return []bus.Middleware{
				bus.DeadLetter(dlq, dlqTopic),
				bus.Retry(bus.RetryPolicy{MaxAttempts: 1 << 20, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}),
				bus.Recover(nil),
			}
		}},
		{"bare handler", func(bus.Publisher, string) []bus.Middleware { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic := Topic(t, brokers, 1)
			dlqTopic := Topic(t, brokers, 1)
			group := Group(t)
			p := Producer(t, brokers, bus.ProducerConfig{})
			for i := range 4 {
				publish(t, t.Context(), p, bus.Message{Topic: topic, Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
			}

			// First consumer: handles message 0, then keeps failing on
			// message 1 until it is stopped.
			var handled recorder
			var mu sync.Mutex
			attempts := 0
			ctx1, cancel1 := context.WithCancel(t.Context())
			r1 := m.start(t, ctx1, cancel1, consumerConfig(t, brokers, group, topic), func(_ context.Context, m bus.Message) error {
				if string(m.Value) == "1" {
					mu.Lock()
					defer mu.Unlock()
					attempts++
					if attempts == 3 {
						cancel1()
					}
					return errTransient
				}
				handled.add(m)
				return nil
			}, tt.mws(p, dlqTopic)...)
			r1.wait(t)
			mu.Lock()
			if attempts < 3 {
				t.Errorf("failing message ran %d times, want >= 3 (retried)", attempts)
			}
			mu.Unlock()
			// A failed batch runs again message by message: message 0
			// may be handled twice, never committed unhandled.
			if got, want := m.distinct(values(handled.snapshot())), []int64{0}; !slices.Equal(got, want) {
				t.Fatalf("first consumer handled offsets %v, want %v", got, want)
			}

			// Restart: message 1 was never committed, so it comes again,
			// and message 0 does not.
			var again recorder
			ctx2, cancel2 := context.WithCancel(t.Context())
			r2 := m.start(t, ctx2, cancel2, consumerConfig(t, brokers, group, topic), func(_ context.Context, m bus.Message) error {
				again.add(m)
				return nil
			}, tt.mws(p, dlqTopic)...)
			eventually(t, "the remaining messages", func() bool { return len(again.snapshot()) >= 3 })
			r2.stop(t)
			if got, want := values(again.snapshot()), []int64{1, 2, 3}; !slices.Equal(got, want) {
				t.Errorf("after restart handled offsets %v, want %v", got, want)
			}
		})
	}
}

// distinct drops repeated offsets in batch mode, where a failed batch is run
// again message by message (offsets arrive in order, so repeats are
// adjacent); other modes deliver a handled message once.
func (m mode) distinct(offsets []int64) []int64 {
	if !m.batch {
		return offsets
	}
	return slices.Compact(offsets)
}

func values(recs []record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.offset
	}
	return out
}

func testPoisonMessageToDLQ(t *testing.T, brokers []string, md mode) {
	topic := Topic(t, brokers, 1)
	dlqTopic := Topic(t, brokers, 1)
	group := Group(t)
	p := Producer(t, brokers, bus.ProducerConfig{})

	const maxAttempts = 3
	kinds := []string{"ok", "poison", "panic", "flaky", "ok", "ok"}
	for i, kind := range kinds {
		publish(t, t.Context(), p, bus.Message{
			Topic:   topic,
			Key:     []byte(fmt.Sprintf("key-%d", i)),
			Value:   []byte(kind),
			Headers: []bus.Header{{Key: "x-test", Value: []byte("keep")}},
		})
	}

	var handled recorder
	var mu sync.Mutex
	attempts := map[int64]int{}
	ctx, cancel := context.WithCancel(t.Context())
	r := md.start(t, ctx, cancel, consumerConfig(t, brokers, group, topic), func(_ context.Context, m bus.Message) error {
		mu.Lock()
		attempts[m.Offset]++
		mu.Unlock()
		switch string(m.Value) {
		case "poison":
			return bus.Permanent(errors.New("cannot decode payload"))
		case "panic":
			panic("handler bug")
		case "flaky":
			return errTransient
		}
		handled.add(m)
		return nil
	}, bus.DeadLetter(p, dlqTopic),
		bus.Retry(bus.RetryPolicy{MaxAttempts: maxAttempts, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}),
		bus.Recover(Logger(t)))
	eventually(t, "the messages after the poison ones", func() bool { return len(md.distinct(values(handled.snapshot()))) == 3 })
	r.stop(t)

	if got, want := md.distinct(values(handled.snapshot())), []int64{0, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("handled offsets %v, want %v", got, want)
	}
	mu.Lock()
	for off, want := range map[int64]int{1: 1, 2: 1, 3: maxAttempts} {
		// In batch mode the failing batch ran each message at most once
		// before the message-by-message pass.
		if got := attempts[off]; got != want && (!md.batch || got != want+1) {
			t.Errorf("offset %d (%s) ran %d times, want %d", off, kinds[off], got, want)
		}
	}
	mu.Unlock()

	// Read the dead letters back with a consumer of our own.
	var dlMu sync.Mutex
	var dead []bus.Message
	dctx, dcancel := context.WithCancel(t.Context())
	dr := start(t, dctx, dcancel, consumerConfig(t, brokers, Group(t), dlqTopic), func(_ context.Context, m bus.Message) error {
		dlMu.Lock()
		defer dlMu.Unlock()
		dead = append(dead, m)
		return nil
	})
	eventually(t, "three dead letters", func() bool {
		dlMu.Lock()
		defer dlMu.Unlock()
		return len(dead) >= 3
	})
	dr.stop(t)

	want := []struct {
		offset    int64
		kind      string
		errSubstr string
	}{
		{1, "permanent", "cannot decode payload"},
		{2, "panic", "handler bug"},
		{3, "retries-exhausted", errTransient.Error()},
	}
	dlMu.Lock()
	defer dlMu.Unlock()
	if len(dead) != len(want) {
		t.Fatalf("got %d dead letters, want %d", len(dead), len(want))
	}
	for i, w := range want {
		m := dead[i]
		header := func(k string) string {
			v, ok := m.Header(k)
			if !ok {
				t.Errorf("dead letter %d: header %s missing", i, k)
			}
			return v
		}
		if got, want := string(m.Key), fmt.Sprintf("key-%d", w.offset); got != want {
			t.Errorf("dead letter %d: got key %q, want %q", i, got, want)
		}
		if got, want := string(m.Value), kinds[w.offset]; got != want {
			t.Errorf("dead letter %d: got value %q, want %q", i, got, want)
		}
		if got := header(bus.HeaderError); !strings.Contains(got, w.errSubstr) {
			t.Errorf("dead letter %d: got %s %q, want it to contain %q", i, bus.HeaderError, got, w.errSubstr)
		}
		checks := map[string]string{
			bus.HeaderErrorKind:       w.kind,
			bus.HeaderSourceTopic:     topic,
			bus.HeaderSourcePartition: "0",
			bus.HeaderSourceOffset:    strconv.FormatInt(w.offset, 10),
			bus.HeaderConsumerGroup:   group,
			"x-test":                  "keep",
		}
		for k, want := range checks {
			if got := header(k); got != want {
				t.Errorf("dead letter %d: got header %s = %q, want %q", i, k, got, want)
			}
		}
	}
}

func testTraceContextPropagated(t *testing.T, brokers []string, m mode) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("tracer provider shutdown: %v", err)
		}
	})
	tracer := tp.Tracer("bustest")
	topic := Topic(t, brokers, 1)

	p := Producer(t, brokers, bus.ProducerConfig{Config: bus.Config{TracerProvider: tp}})
	rootCtx, root := tracer.Start(t.Context(), "request")
	publish(t, rootCtx, p, bus.Message{Topic: topic, Key: []byte("u1"), Value: []byte("v")})
	root.End()

	done := make(chan struct{})
	cfg := consumerConfig(t, brokers, Group(t), topic)
	cfg.TracerProvider = tp
	ctx, cancel := context.WithCancel(t.Context())
	r := m.start(t, ctx, cancel, cfg, func(ctx context.Context, _ bus.Message) error {
		_, span := tracer.Start(ctx, "handler work")
		span.End()
		close(done)
		return nil
	})
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatalf("message not handled within %v", waitFor)
	}
	r.stop(t)

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var handler sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		byID[s.SpanContext().SpanID()] = s
		if s.Name() == "handler work" {
			handler = s
		}
	}
	if handler == nil {
		t.Fatalf("no handler span recorded")
	}
	if m.batch {
		checkBatchTrace(t, byID, handler, topic, root.SpanContext())
		return
	}
	if got, want := handler.SpanContext().TraceID(), root.SpanContext().TraceID(); got != want {
		t.Errorf("handler span trace id %v, want the producing request's %v", got, want)
	}
	var chain []string
	var sawConsumer, sawProducer bool
	for s := handler; s != nil; s = byID[s.Parent().SpanID()] {
		chain = append(chain, fmt.Sprintf("%s(%s)", s.Name(), s.SpanKind()))
		switch {
		case s.SpanKind() == trace.SpanKindConsumer && s.Name() == "process "+topic:
			sawConsumer = true
		case s.SpanKind() == trace.SpanKindProducer && s.Name() == "send "+topic:
			sawProducer = true
		}
		if !s.Parent().IsValid() {
			break
		}
	}
	if !sawConsumer || !sawProducer {
		t.Errorf("handler span ancestry %v: want a consumer span and, above it, the producer span", chain)
	}
	if last := chain[len(chain)-1]; last != "request(internal)" {
		t.Errorf("handler span ancestry %v: want it to end at the producing request", chain)
	}
}

// checkBatchTrace checks that the handler of a batch runs under a consumer
// span that continues, or links to, the span that sent the message in the
// producing request's trace.
func checkBatchTrace(t *testing.T, byID map[trace.SpanID]sdktrace.ReadOnlySpan, handler sdktrace.ReadOnlySpan, topic string, root trace.SpanContext) {
	t.Helper()
	batch := byID[handler.Parent().SpanID()]
	if batch == nil || batch.SpanKind() != trace.SpanKindConsumer || batch.Name() != "process "+topic {
		t.Fatalf("handler span's parent: got %v, want the consumer span process %s", batch, topic)
	}
	var linked bool
	if sent := byID[batch.Parent().SpanID()]; sent != nil && sent.SpanKind() == trace.SpanKindProducer &&
		sent.Name() == "send "+topic && batch.SpanContext().TraceID() == root.TraceID() {
		linked = true // the batch continues the trace of its first message
	}
	for _, l := range batch.Links() {
		sent := byID[l.SpanContext.SpanID()]
		if sent != nil && sent.SpanKind() == trace.SpanKindProducer && sent.Name() == "send "+topic && l.SpanContext.TraceID() == root.TraceID() {
			linked = true
		}
	}
	if !linked {
		t.Errorf("batch span parent %v, links %v: want it under or linked to the producer span of the request's trace %v", batch.Parent(), batch.Links(), root.TraceID())
	}
}

func testScan(t *testing.T, brokers []string) {
	topic := Topic(t, brokers, 3)
	empty := Topic(t, brokers, 2)
	p := Producer(t, brokers, bus.ProducerConfig{})
	var msgs []bus.Message
	for i := range 40 {
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("v%02d", i))})
	}
	publish(t, t.Context(), p, msgs...)
	cfg := bus.Config{Brokers: brokers, Logger: Logger(t)}

	var got []string
	last := map[int]int64{}
	inFn := false
	err := bus.Scan(t.Context(), cfg, topic, func(_ context.Context, m bus.Message) error {
		if inFn {
			t.Errorf("Scan called fn concurrently")
		}
		inFn = true
		defer func() { inFn = false }()
		if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
			t.Errorf("partition %d: offset %d after %d, want increasing", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
		got = append(got, string(m.Value))
		if len(got) == 20 {
			// Written after the call: beyond the end offsets Scan took.
			publish(t, t.Context(), p, bus.Message{Topic: topic, Key: []byte("late"), Value: []byte("late")})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	slices.Sort(got)
	var want []string
	for _, m := range msgs {
		want = append(want, string(m.Value))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Scan: got %v, want %v (every record up to the end offsets at the call, nothing later)", got, want)
	}

	if err := bus.Scan(t.Context(), cfg, empty, func(context.Context, bus.Message) error {
		return errors.New("no records expected")
	}); err != nil {
		t.Errorf("Scan of an empty topic: %v", err)
	}
	errStop := errors.New("stop")
	if err := bus.Scan(t.Context(), cfg, topic, func(context.Context, bus.Message) error { return errStop }); !errors.Is(err, errStop) {
		t.Errorf("Scan with a failing fn: got %v, want %v", err, errStop)
	}
	if err := bus.Scan(t.Context(), cfg, Name(t, "strata.test.missing"), func(context.Context, bus.Message) error { return nil }); !errors.Is(err, bus.ErrUnknownTopic) {
		t.Errorf("Scan of a missing topic: got %v, want %v", err, bus.ErrUnknownTopic)
	}
}
