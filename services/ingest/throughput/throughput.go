// Package throughput counts the events one ingest instance accepted, per wall-clock
// minute, over the last hour: a ring of sixty minute buckets in memory.
//
// The counts are per instance and start from zero when the process starts; they are
// not shared and not persisted. Behind a load balancer, a read reaches one instance and
// reports its share of the traffic: the console's events-per-minute chart is a sample of
// the rate, not the total, unless a single instance runs (the all-in-one suite). The
// durable totals are the Kafka offsets of strata.events.v1.
//
// A Counter is safe for concurrent use; Add costs one short mutex hold.
package throughput

import (
	"sync"
	"time"
)

// Window is how many minutes a Counter remembers, the current one included.
const Window = 60

// Minute is one bucket: the events accepted (published) and the duplicates dropped
// during the minute that starts at Start.
type Minute struct {
	Start      time.Time
	Accepted   int64
	Duplicates int64
}

// Counter counts events per minute in a ring of Window buckets.
type Counter struct {
	now     func() time.Time
	started time.Time

	mu   sync.Mutex
	ring [Window]Minute
}

// Option configures a Counter.
type Option func(*Counter)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(c *Counter) { c.now = now } }

// New returns an empty Counter.
func New(opts ...Option) *Counter {
	c := &Counter{now: time.Now}
	for _, o := range opts {
		o(c)
	}
	c.started = c.now()
	return c
}

// Started is when the Counter began counting (the process start, in practice).
func (c *Counter) Started() time.Time { return c.started }

// Add counts accepted and duplicate events in the current minute.
func (c *Counter) Add(accepted, duplicates int) {
	if accepted == 0 && duplicates == 0 {
		return
	}
	start := c.now().UTC().Truncate(time.Minute)
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.ring[slot(start)]
	if !b.Start.Equal(start) {
		// The slot still holds the same minute of an earlier hour, or nothing.
		*b = Minute{Start: start}
	}
	b.Accepted += int64(accepted)
	b.Duplicates += int64(duplicates)
}

// Minutes returns the last Window minutes, the current one last, oldest first; minutes
// without events (or before the Counter started) have zero counts.
func (c *Counter) Minutes() []Minute {
	cur := c.now().UTC().Truncate(time.Minute)
	out := make([]Minute, Window)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range out {
		start := cur.Add(time.Duration(i-Window+1) * time.Minute)
		out[i] = Minute{Start: start}
		if b := c.ring[slot(start)]; b.Start.Equal(start) {
			out[i] = b
		}
	}
	return out
}

func slot(minute time.Time) int {
	return int((minute.Unix() / 60) % Window)
}
