package sweep_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/cache"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
	"github.com/stratahq/strata/services/profile/sweep"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// mu guards the event slices the sweepers publish to.
var mu sync.Mutex

func newSweeper(t *testing.T, s *store.Store, owner string, reg *segment.Registry, c *segment.Compiler, events *[]*profilev1.SegmentEvent) (*sweep.Sweeper, *sweep.Boundaries) {
	b := &sweep.Boundaries{}
	sw := sweep.New(sweep.Config{Owner: owner, PollInterval: 20 * time.Millisecond}, s, reg, c, state.Deriver{}, b,
		func(_ context.Context, evs []*profilev1.SegmentEvent) error {
			mu.Lock()
			defer mu.Unlock()
			*events = append(*events, evs...)
			return nil
		},
		func() time.Time { return now }, nil)
	return sw, b
}

func putBuyer(t *testing.T, s *store.Store, user string, revenue int64) {
	t.Helper()
	ev := &eventv1.Event{EventId: user, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: state.EventOrderCompleted, UserId: user,
		Timestamp: timestamppb.New(now.Add(-time.Hour)), Order: &eventv1.Order{OrderId: "o", RevenueMinor: revenue, Currency: "CNY"}}
	p, _ := state.Apply(nil, user, ev, &profilev1.Position{Offset: 1})
	if err := s.Put(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func TestRunCalibratesAndBackfills(t *testing.T) {
	t.Parallel()
	s, _ := storetest.Embedded(t)
	c, _ := segment.NewCompiler()
	reg := segment.NewRegistry(c)
	for i := range 10 {
		putBuyer(t, s, fmt.Sprintf("u%d", i), int64(i+1)*100)
	}
	if _, err := reg.Put(&profilev1.Segment{SegmentId: "big", Rule: `p.rfm.m >= 4`, Version: 3}); err != nil {
		t.Fatal(err)
	}
	var events []*profilev1.SegmentEvent
	sw, bounds := newSweeper(t, s, "a", reg, c, &events)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := s.GetSegmentStatus(context.Background(), "big")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := s.MemberCount(context.Background(), "big")
		if st.ComputedVersion == 3 && n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("back-fill: got status %+v and %d members, want version 3 and 4 members", st, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if b := bounds.Current(); b.GetPopulation() != 10 || b.GetVersion() == 0 {
		t.Errorf("boundaries after Run: got %v, want a calibration of 10 purchasers", b)
	}
	// Monetary 100..1000: M >= 4 is the top 4 (cut 800 → 900, 1000 score 5; 700, 800 score 4).
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 4 {
		t.Errorf("segment events: got %d, want 4 enters", len(events))
	}
}

func TestCalibrateWaitsForAnotherInstance(t *testing.T) {
	t.Parallel()
	s, _ := storetest.Embedded(t)
	c, _ := segment.NewCompiler()
	reg := segment.NewRegistry(c)
	putBuyer(t, s, "u1", 100)
	var events []*profilev1.SegmentEvent
	sw, _ := newSweeper(t, s, "a", reg, c, &events)
	lock, ok, err := s.TryLock(context.Background(), cache.RFMLockKey, "b", time.Minute)
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	got := make(chan *profilev1.RfmGrid, 1)
	go func() {
		g, err := sw.Calibrate(context.Background())
		if err != nil {
			t.Errorf("Calibrate: %v", err)
		}
		got <- g
	}()
	time.Sleep(100 * time.Millisecond)
	// The other instance stores its calibration and releases the lock: the waiting call
	// returns that grid.
	b := &profilev1.RfmBoundaries{Recency: []int64{1, 1, 1, 1}, Frequency: []int64{1, 1, 1, 1}, Monetary: []int64{1, 1, 1, 1}, Population: 1, Version: 42}
	if err := s.SaveCalibration(context.Background(), b, &profilev1.RfmGrid{Boundaries: b, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	if err := lock.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g.GetBoundaries().GetVersion() != 42 {
			t.Errorf("Calibrate while another instance calibrates: got %v, want its grid (version 42)", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Calibrate did not return after the lock was released")
	}
}
