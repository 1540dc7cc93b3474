// Package ratelimit meters API keys with token buckets (golang.org/x/time/rate).
//
// The buckets live in this process: with N gateway instances behind a load balancer a
// key may spend up to N times its rate. That is the accepted trade-off for a check that
// costs no network round trip on every call; a shared limit would need Redis (or a
// similar store) in the request path. A Limiter is safe for concurrent use; it keeps one
// bucket per key id it has seen, so its memory grows with the number of keys, not of
// calls.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: PerSecond tokens flow in, up to Burst. A zero field takes the
// Limiter's default; a non-positive PerSecond in the default means no limit.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Limiter holds the buckets of every key.
type Limiter struct {
	def Limit
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	limit Limit
	lim   *rate.Limiter
}

// New returns a limiter whose keys default to def. A default without a burst gets one
// of at least a second's worth of tokens.
func New(def Limit) *Limiter {
	if def.Burst <= 0 {
		def.Burst = max(1, int(math.Ceil(def.PerSecond)))
	}
	return &Limiter{def: def, now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes one token from the bucket of id, sized by l (zero fields take the
// default). When the bucket is empty it takes nothing and returns false with the time
// until a token will be there.
func (l *Limiter) Allow(id string, lim Limit) (bool, time.Duration) {
	lim = l.resolve(lim)
	if lim.PerSecond <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[id]
	if !ok || b.limit != lim {
		b = &bucket{limit: lim, lim: rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)}
		l.buckets[id] = b
	}
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Duration(float64(time.Second) / lim.PerSecond)
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Forget drops the bucket of id (a revoked key).
func (l *Limiter) Forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, id)
}

func (l *Limiter) resolve(lim Limit) Limit {
	if lim.PerSecond <= 0 {
		lim.PerSecond = l.def.PerSecond
	}
	if lim.Burst <= 0 {
		if lim.PerSecond == l.def.PerSecond {
			lim.Burst = l.def.Burst
		} else {
			lim.Burst = max(1, int(math.Ceil(lim.PerSecond)))
		}
	}
	return lim
}
