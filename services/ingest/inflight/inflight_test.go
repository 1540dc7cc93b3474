package inflight_test

import (
	"testing"

	"github.com/stratahq/strata/services/ingest/inflight"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := inflight.New(2, 100)
	r1, ok := l.TryAcquire(60)
	if !ok {
		t.Fatal("first request refused")
	}
	if _, ok := l.TryAcquire(60); ok {
		t.Error("bytes over the limit admitted")
	}
	r2, ok := l.TryAcquire(40)
	if !ok {
		t.Fatal("request within the limits refused")
	}
	if _, ok := l.TryAcquire(0); ok {
		t.Error("third request admitted with a limit of two")
	}
	r1()
	r1() // releasing twice is harmless
	if _, ok := l.TryAcquire(1000); ok {
		t.Error("oversized request admitted next to another one")
	}
	r2()
	// Alone, an oversized request runs: it is capped at the limit.
	r3, ok := l.TryAcquire(1000)
	if !ok {
		t.Fatal("oversized request refused although it runs alone")
	}
	if _, ok := l.TryAcquire(1); ok {
		t.Error("request admitted next to one holding the whole budget")
	}
	r3()
	// Everything released: the full budget is free.
	r4, ok := l.TryAcquire(100)
	if !ok {
		t.Fatal("full budget not free after every release")
	}
	r4()
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	l := inflight.New(0, 0)
	release, ok := l.TryAcquire(inflight.DefaultMaxBytes)
	if !ok {
		t.Fatal("default budget refused a request of its size")
	}
	release()
}
