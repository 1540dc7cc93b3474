package throughput_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stratahq/strata/services/ingest/throughput"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCounterMinutes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 9, 0, 30, 0, time.UTC)
	tests := []struct {
		name  string
		steps func(c *throughput.Counter, clk *clock)
		// want maps minutes before the current one (0 = current) to accepted counts;
		// every other minute must be zero.
		want map[int]int64
		dups map[int]int64
	}{
		{"empty", func(*throughput.Counter, *clock) {}, nil, nil},
		{"one minute", func(c *throughput.Counter, _ *clock) { c.Add(3, 1); c.Add(2, 0) }, map[int]int64{0: 5}, map[int]int64{0: 1}},
		{"spread", func(c *throughput.Counter, clk *clock) {
			c.Add(4, 0)
			clk.advance(time.Minute)
			c.Add(1, 2)
			clk.advance(10 * time.Minute)
			c.Add(7, 0)
		}, map[int]int64{0: 7, 10: 1, 11: 4}, map[int]int64{10: 2}},
		{"an hour later the slot is reused", func(c *throughput.Counter, clk *clock) {
			c.Add(9, 0)
			clk.advance(time.Hour)
			c.Add(1, 0)
		}, map[int]int64{0: 1}, nil},
		{"older than the window is forgotten", func(c *throughput.Counter, clk *clock) {
			c.Add(9, 0)
			clk.advance(throughput.Window * time.Minute)
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: t0}
			c := throughput.New(throughput.WithClock(clk.now))
			tt.steps(c, clk)
			got := c.Minutes()
			if len(got) != throughput.Window {
				t.Fatalf("got %d minutes, want %d", len(got), throughput.Window)
			}
			cur := clk.now().Truncate(time.Minute)
			for i, m := range got {
				ago := throughput.Window - 1 - i
				if want := cur.Add(-time.Duration(ago) * time.Minute); !m.Start.Equal(want) {
					t.Errorf("minute %d: got start %v, want %v", i, m.Start, want)
				}
				if m.Accepted != tt.want[ago] || m.Duplicates != tt.dups[ago] {
					t.Errorf("%d minutes ago: got %d accepted %d duplicates, want %d and %d", ago, m.Accepted, m.Duplicates, tt.want[ago], tt.dups[ago])
				}
			}
		})
	}
}

func TestCounterConcurrentAdds(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	c := throughput.New(throughput.WithClock(clk.now))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Add(1, 0)
			}
		})
	}
	wg.Wait()
	if got := c.Minutes()[throughput.Window-1].Accepted; got != 8000 {
		t.Errorf("accepted: got %d, want 8000", got)
	}
	if !c.Started().Equal(clk.now()) {
		t.Errorf("started: got %v, want %v", c.Started(), clk.now())
	}
}
