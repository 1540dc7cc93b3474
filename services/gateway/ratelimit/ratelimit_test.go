package ratelimit

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestLimiter(def Limit) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(def)
	l.now = c.now
	return l, c
}

func TestAllowBurstThenRefill(t *testing.T) {
	t.Parallel()
	l, clock := newTestLimiter(Limit{PerSecond: 2, Burst: 3})
	for i := range 3 {
		if ok, _ := l.Allow("k1", Limit{}); !ok {
			t.Fatalf("call %d within the burst: got refused, want allowed", i+1)
		}
	}
	ok, wait := l.Allow("k1", Limit{})
	if ok {
		t.Fatalf("call past the burst: got allowed, want refused")
	}
	if got, want := wait, 500*time.Millisecond; got != want {
		t.Errorf("retry after: got %v, want %v (one token at 2/s)", got, want)
	}
	// A refused call takes no token: after the announced wait the next call passes.
	clock.advance(wait)
	if ok, _ := l.Allow("k1", Limit{}); !ok {
		t.Errorf("call after the wait: got refused, want allowed")
	}
	if ok, _ := l.Allow("k1", Limit{}); ok {
		t.Errorf("second call after one token's wait: got allowed, want refused")
	}
}

func TestAllowPerKey(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(Limit{PerSecond: 1, Burst: 1})
	tests := []struct {
		id     string
		limit  Limit
		allows int
	}{
		{"default", Limit{}, 1},
		{"own burst", Limit{PerSecond: 1, Burst: 4}, 4},
		{"own rate, derived burst", Limit{PerSecond: 10}, 10},
		{"other default key", Limit{}, 1},
	}
	for _, tt := range tests {
		n := 0
		for range tt.allows + 5 {
			if ok, _ := l.Allow(tt.id, tt.limit); ok {
				n++
			}
		}
		if n != tt.allows {
			t.Errorf("%s: got %d calls allowed at once, want %d", tt.id, n, tt.allows)
		}
	}
}

func TestAllowUnlimitedDefault(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(Limit{})
	for i := range 1000 {
		if ok, _ := l.Allow("k", Limit{}); !ok {
			t.Fatalf("call %d without a default limit: got refused, want allowed", i)
		}
	}
	// A key's own limit applies even without a default.
	if ok, _ := l.Allow("limited", Limit{PerSecond: 1, Burst: 1}); !ok {
		t.Fatalf("first call of a limited key: got refused, want allowed")
	}
	if ok, _ := l.Allow("limited", Limit{PerSecond: 1, Burst: 1}); ok {
		t.Errorf("second call of a limited key: got allowed, want refused")
	}
}

func TestForget(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(Limit{PerSecond: 1, Burst: 1})
	l.Allow("k", Limit{})
	l.Forget("k")
	if ok, _ := l.Allow("k", Limit{}); !ok {
		t.Errorf("after Forget: got refused, want a fresh bucket")
	}
}

func TestAllowConcurrent(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(Limit{PerSecond: 1, Burst: 50})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 200 {
		wg.Go(func() {
			if ok, _ := l.Allow("shared", Limit{}); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Errorf("concurrent calls allowed: got %d, want 50 (the burst)", allowed)
	}
}
