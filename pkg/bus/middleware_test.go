package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
)

var errBoom = errors.New("boom")

func TestPermanent(t *testing.T) {
	t.Parallel()
	if bus.Permanent(nil) != nil {
		t.Errorf("Permanent(nil): got non-nil, want nil")
	}
	err := fmt.Errorf("decode: %w", bus.Permanent(errBoom))
	if !bus.IsPermanent(err) {
		t.Errorf("IsPermanent(%v): got false, want true", err)
	}
	if !errors.Is(err, errBoom) {
		t.Errorf("errors.Is(%v, errBoom): got false, want true", err)
	}
	if got, want := err.Error(), "decode: boom"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if bus.IsPermanent(errBoom) {
		t.Errorf("IsPermanent(errBoom): got true, want false")
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var trace []string
	mw := func(name string) bus.Middleware {
		return func(next bus.Handler) bus.Handler {
			return func(ctx context.Context, m bus.Message) error {
				trace = append(trace, name)
				return next(ctx, m)
			}
		}
	}
	h := bus.Chain(func(context.Context, bus.Message) error {
		trace = append(trace, "handler")
		return nil
	}, mw("outer"), mw("inner"))
	if err := h(t.Context(), bus.Message{}); err != nil {
		t.Fatalf("handler: %v", err)
	}
	if got, want := strings.Join(trace, ","), "outer,inner,handler"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestInOrderStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	var seen []int64
	h := bus.InOrder(func(_ context.Context, m bus.Message) error {
		seen = append(seen, m.Offset)
		if m.Offset == 2 {
			return errBoom
		}
		return nil
	})
	if err := h(t.Context(), []bus.Message{{Offset: 1}, {Offset: 2}, {Offset: 3}}); !errors.Is(err, errBoom) {
		t.Fatalf("batch with a failing message: got %v, want its error", err)
	}
	if got := fmt.Sprint(seen); got != "[1 2]" {
		t.Errorf("handled offsets %s, want [1 2]: in order, none after the failure", got)
	}
	seen = nil
	if err := h(t.Context(), []bus.Message{{Offset: 4}, {Offset: 5}}); err != nil || fmt.Sprint(seen) != "[4 5]" {
		t.Errorf("good batch: got %v, offsets %v; want nil, [4 5]", err, seen)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	policy := bus.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Microsecond, MaxBackoff: time.Millisecond}
	tests := []struct {
		name         string
		failures     int   // calls that fail before success
		err          error // what the failing calls return
		wantCalls    int
		wantErr      error
		wantNoErr    bool
		wantNotIsErr error
	}{
		{name: "succeeds first", failures: 0, err: errBoom, wantCalls: 1, wantNoErr: true},
		{name: "succeeds after transient", failures: 2, err: errBoom, wantCalls: 3, wantNoErr: true},
		{name: "exhausted", failures: 100, err: errBoom, wantCalls: 4, wantErr: bus.ErrRetriesExhausted},
		{name: "permanent not retried", failures: 100, err: bus.Permanent(errBoom), wantCalls: 1, wantErr: bus.ErrPermanent, wantNotIsErr: bus.ErrRetriesExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			h := bus.Retry(policy)(func(context.Context, bus.Message) error {
				calls++
				if calls <= tt.failures {
					return tt.err
				}
				return nil
			})
			err := h(t.Context(), bus.Message{})
			if calls != tt.wantCalls {
				t.Errorf("got %d calls, want %d", calls, tt.wantCalls)
			}
			switch {
			case tt.wantNoErr && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got %v, want errors.Is %v", err, tt.wantErr)
			case tt.wantNotIsErr != nil && errors.Is(err, tt.wantNotIsErr):
				t.Errorf("got %v, want not errors.Is %v", err, tt.wantNotIsErr)
			}
			if !tt.wantNoErr && !errors.Is(err, errBoom) {
				t.Errorf("got %v, want it to wrap the handler's error", err)
			}
		})
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	h := bus.Retry(bus.RetryPolicy{MaxAttempts: 1000, InitialBackoff: time.Hour})(func(context.Context, bus.Message) error {
		calls++
		cancel()
		return errBoom
	})
	err := h(ctx, bus.Message{})
	if !errors.Is(err, bus.ErrStopping) {
		t.Errorf("got %v, want ErrStopping", err)
	}
	if calls != 1 {
		t.Errorf("got %d calls, want 1", calls)
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	h := bus.Recover(nil)(func(context.Context, bus.Message) error { panic("bug") })
	err := h(t.Context(), bus.Message{})
	if !errors.Is(err, bus.ErrPanic) || !bus.IsPermanent(err) {
		t.Errorf("got %v, want a permanent ErrPanic", err)
	}
	if !strings.Contains(fmt.Sprint(err), "bug") {
		t.Errorf("got %q, want it to name the panic value", err)
	}
}

type fakePublisher struct {
	mu   sync.Mutex
	err  error
	msgs []bus.Message
}

func (f *fakePublisher) Publish(_ context.Context, msgs ...bus.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.msgs = append(f.msgs, msgs...)
	return nil
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	src := bus.Message{
		Topic: "strata.events.v1", Partition: 4, Offset: 42,
		Key: []byte("u1"), Value: []byte("payload"),
		Headers: []bus.Header{{Key: "traceparent", Value: []byte("x")}, {Key: bus.HeaderError, Value: []byte("stale")}},
	}
	tests := []struct {
		name      string
		handler   error
		pubErr    error
		wantErr   bool
		wantDead  int
		wantKind  string
		cancelled bool
	}{
		{name: "success passes", handler: nil, wantDead: 0},
		{name: "permanent dead-lettered", handler: bus.Permanent(errBoom), wantDead: 1, wantKind: "permanent"},
		{name: "exhausted dead-lettered", handler: fmt.Errorf("%w: %w", bus.ErrRetriesExhausted, errBoom), wantDead: 1, wantKind: "retries-exhausted"},
		{name: "plain error dead-lettered", handler: errBoom, wantDead: 1, wantKind: "error"},
		{name: "publish failure surfaces", handler: errBoom, pubErr: errors.New("broker down"), wantErr: true},
		{name: "stopping passes through", handler: fmt.Errorf("%w: %w", bus.ErrStopping, errBoom), wantErr: true},
		{name: "cancelled passes through", handler: errBoom, cancelled: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{err: tt.pubErr}
			h := bus.DeadLetter(pub, "dlq")(func(context.Context, bus.Message) error { return tt.handler })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			err := h(ctx, src)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error: %v", err, tt.wantErr)
			}
			if got := len(pub.msgs); got != tt.wantDead {
				t.Fatalf("got %d dead letters, want %d", got, tt.wantDead)
			}
			if tt.wantDead == 0 {
				return
			}
			dl := pub.msgs[0]
			if dl.Topic != "dlq" || string(dl.Key) != "u1" || string(dl.Value) != "payload" {
				t.Errorf("got topic %q key %q value %q, want dlq u1 payload", dl.Topic, dl.Key, dl.Value)
			}
			want := map[string]string{
				bus.HeaderErrorKind:       tt.wantKind,
				bus.HeaderSourceTopic:     "strata.events.v1",
				bus.HeaderSourcePartition: "4",
				bus.HeaderSourceOffset:    "42",
				"traceparent":             "x",
				bus.HeaderError:           tt.handler.Error(),
			}
			for k, w := range want {
				if got, _ := dl.Header(k); got != w {
					t.Errorf("header %s: got %q, want %q", k, got, w)
				}
			}
			n := 0
			for _, h := range dl.Headers {
				if h.Key == bus.HeaderError {
					n++
				}
			}
			if n != 1 {
				t.Errorf("got %d %s headers, want 1 (stale one replaced)", n, bus.HeaderError)
			}
		})
	}
}

func TestReliableOrder(t *testing.T) {
	t.Parallel()
	// A panic must be dead-lettered once, not retried.
	pub := &fakePublisher{}
	calls := 0
	h := bus.Chain(func(context.Context, bus.Message) error {
		calls++
		panic("bug")
	}, bus.Reliable(pub, bus.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Microsecond}, nil)...)
	if err := h(t.Context(), bus.Message{Topic: "t"}); err != nil {
		t.Fatalf("got %v, want nil (dead-lettered)", err)
	}
	if calls != 1 {
		t.Errorf("got %d calls, want 1", calls)
	}
	if len(pub.msgs) != 1 || pub.msgs[0].Topic != "strata.events.dlq.v1" {
		t.Errorf("got dead letters %+v, want one on strata.events.dlq.v1", pub.msgs)
	}
}
