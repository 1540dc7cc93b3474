package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// batching configures a batcher.
type batching struct {
	workers  int
	maxItems int
	// maxBytes bounds the summed sizes of a batch's values; 0 means no bound.
	maxBytes int
	// linger is how long a partial batch waits for more messages.
	linger time.Duration
}

// batcher routes messages by key to workers, each of which encodes them, gathers them
// into batches and flushes a batch when it is full or has waited linger.
type batcher[T any] struct {
	cfg    batching
	encode func(*Message) (v T, size int, err error)
	flush  func(ctx context.Context, batch []T) error
	cnt    *counters

	in     []chan Message
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	err    error
}

func newBatcher[T any](cfg batching, cnt *counters, encode func(*Message) (T, int, error), flush func(context.Context, []T) error) *batcher[T] {
	cfg.workers = max(cfg.workers, 1)
	cfg.maxItems = max(cfg.maxItems, 1)
	if cfg.linger <= 0 {
		cfg.linger = 50 * time.Millisecond
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	b := &batcher[T]{cfg: cfg, encode: encode, flush: flush, cnt: cnt, ctx: ctx, cancel: cancel}
	for range cfg.workers {
		ch := make(chan Message, 4*cfg.maxItems)
		b.in = append(b.in, ch)
		b.wg.Add(1)
		go b.work(ch)
	}
	return b
}

func (b *batcher[T]) send(ctx context.Context, m Message) error {
	if err := b.failure(); err != nil {
		return err
	}
	select {
	case b.in[shard(m.Key(), len(b.in))] <- m:
		return nil
	case <-b.ctx.Done():
		return b.failure()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher[T]) close(ctx context.Context) error {
	for _, ch := range b.in {
		close(ch)
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.fail(ctx.Err())
		<-done
	}
	b.cancel(nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *batcher[T]) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	b.cancel(err)
}

func (b *batcher[T]) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, b.err)
	}
	return nil
}

func (b *batcher[T]) work(in <-chan Message) {
	defer b.wg.Done()
	var (
		batch []T
		size  int
	)
	timer := time.NewTimer(b.cfg.linger)
	timer.Stop()
	flush := func() {
		timer.Stop()
		if len(batch) == 0 || b.ctx.Err() != nil {
			batch, size = batch[:0], 0
			return
		}
		if err := b.flush(b.ctx, batch); err != nil {
			b.fail(err)
		} else {
			b.cnt.delivered.Add(int64(len(batch)))
		}
		batch, size = nil, 0
	}
	for {
		select {
		case m, ok := <-in:
			if !ok {
				flush()
				return
			}
			if b.ctx.Err() != nil {
				continue // stopped: drain what is queued without sending it
			}
			v, n, err := b.encode(&m)
			if err != nil {
				b.fail(err)
				continue
			}
			if len(batch) > 0 && b.cfg.maxBytes > 0 && size+n > b.cfg.maxBytes {
				flush()
			}
			if len(batch) == 0 {
				timer.Reset(b.cfg.linger)
			}
			batch = append(batch, v)
			size += n
			if len(batch) >= b.cfg.maxItems {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// retryPolicy bounds the retries of one request.
type retryPolicy struct {
	attempts  int
	base, cap time.Duration
}

var defaultRetry = retryPolicy{attempts: 10, base: 100 * time.Millisecond, cap: 5 * time.Second}

// errRetryable marks an error of an attempt worth repeating; retryAfter is the server's
// hint, zero when it gave none.
type errRetryable struct {
	err        error
	retryAfter time.Duration
}

func (e *errRetryable) Error() string { return e.err.Error() }
func (e *errRetryable) Unwrap() error { return e.err }

// do runs attempt until it succeeds, fails with an error that is not *errRetryable, runs
// out of attempts or ctx is done, sleeping an exponential backoff (with jitter, at least
// the server's Retry-After) between attempts.
func (p retryPolicy) do(ctx context.Context, cnt *counters, attempt func(ctx context.Context) error) error {
	for i := 0; ; i++ {
		cnt.requests.Add(1)
		err := attempt(ctx)
		var re *errRetryable
		if err == nil || !errors.As(err, &re) {
			return err
		}
		if i+1 >= p.attempts {
			return fmt.Errorf("giving up after %d attempts: %w", i+1, re.err)
		}
		wait := min(p.cap, p.base<<i)
		wait = wait/2 + rand.N(wait/2+1)
		wait = max(wait, min(re.retryAfter, p.cap))
		cnt.retries.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), re.err)
		case <-t.C:
		}
	}
}

// encodeJSON encodes v without escaping HTML characters and without a newline.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
