package bus

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{30, 500 * time.Millisecond, time.Second}, // capped
	}
	for _, tt := range tests {
		for range 50 {
			if got := backoff(tt.attempt, 100*time.Millisecond, time.Second); got < tt.min || got > tt.max {
				t.Fatalf("backoff(%d): got %v, want within [%v, %v]", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
}

func TestHeaderCarrier(t *testing.T) {
	t.Parallel()
	hs := []kafka.Header{{Key: "a", Value: []byte("1")}, {Key: "traceparent", Value: []byte("old")}}
	c := headerCarrier{&hs}
	c.Set("traceparent", "new")
	c.Set("b", "2")
	if got, want := c.Get("traceparent"), "new"; got != want {
		t.Errorf("Get(traceparent): got %q, want %q", got, want)
	}
	if got, want := len(hs), 3; got != want {
		t.Errorf("got %d headers, want %d (Set replaces)", got, want)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing): got %q, want empty", got)
	}
	if got, want := len(c.Keys()), 3; got != want {
		t.Errorf("Keys: got %d, want %d", got, want)
	}
}
