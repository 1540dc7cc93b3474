// Package inflight bounds the work ingest holds at once, so that overload is answered
// with 429 (HTTP) or ResourceExhausted (gRPC) instead of growing memory until the
// process is killed.
//
// A Limiter counts two things: requests in flight and the bytes they reserved (the most
// their bodies may occupy). Acquisition never waits: a request that does not fit is
// refused at once, and the client retries after Retry-After. Decoded events take a few
// times the bytes of their JSON, so memory stays within a small multiple of MaxBytes. A
// Limiter is safe for concurrent use.
package inflight

import (
	"sync"

	"golang.org/x/sync/semaphore"
)

// Defaults of New.
const (
	DefaultMaxRequests = 512
	DefaultMaxBytes    = 32 << 20
)

// Limiter bounds concurrent requests and their bytes.
type Limiter struct {
	reqs, bytes *semaphore.Weighted
	maxBytes    int64
}

// New returns a Limiter admitting at most maxRequests requests holding at most maxBytes
// bytes together; zero or negative values take the defaults.
func New(maxRequests int, maxBytes int64) *Limiter {
	if maxRequests <= 0 {
		maxRequests = DefaultMaxRequests
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Limiter{
		reqs:     semaphore.NewWeighted(int64(maxRequests)),
		bytes:    semaphore.NewWeighted(maxBytes),
		maxBytes: maxBytes,
	}
}

// TryAcquire admits one request reserving n bytes (capped at the limit, so one large
// request can still run alone), without waiting. When ok, release must be called once the
// request's memory is no longer held; calling it again does nothing.
func (l *Limiter) TryAcquire(n int64) (release func(), ok bool) {
	n = min(max(n, 1), l.maxBytes)
	if !l.reqs.TryAcquire(1) {
		return nil, false
	}
	if !l.bytes.TryAcquire(n) {
		l.reqs.Release(1)
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.bytes.Release(n)
			l.reqs.Release(1)
		})
	}, true
}
