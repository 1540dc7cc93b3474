package scoring_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

func privacyMsg(t *testing.T, r *privacyv1.PrivacyRequest, at time.Time) bus.Message {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: topics.Privacy, Key: []byte(r.GetUserId()), Value: b, Time: at}
}

// receiptOf decodes an erasure receipt published on strata.privacy.receipts.v1, checking
// its key.
func receiptOf(t *testing.T, m bus.Message) *privacyv1.ErasureReceipt {
	t.Helper()
	r := &privacyv1.ErasureReceipt{}
	if m.Topic != topics.PrivacyReceipts {
		t.Fatalf("got a record on %s, want a receipt on %s", m.Topic, topics.PrivacyReceipts)
	}
	if err := proto.Unmarshal(m.Value, r); err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != r.GetRequestId()+"/"+scoring.ReceiptService || r.GetService() != scoring.ReceiptService || r.GetCompletedAt() == nil {
		t.Errorf("receipt keyed %q: got %v, want the prediction service's, keyed request id/%s", m.Key, r, scoring.ReceiptService)
	}
	return r
}

// timedEvent is an event record as consumed: with its partition, offset and record time.
func timedEvent(t *testing.T, offset int64, at time.Time, ev *eventv1.Event) bus.Message {
	t.Helper()
	m := eventMsg(t, 0, offset, ev)
	m.Time = at
	return m
}

func TestHandlePrivacyErasesStateAndTombstonesPrediction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, pub, clk, _ := newEngine(t, scoring.Config{Debounce: time.Millisecond})
	recorded := t0.Add(-time.Minute) // record times of the events before the erasure
	for i, ev := range []*eventv1.Event{
		order("u1", t0.Add(-40*24*time.Hour), 9900), order("u1", t0.Add(-10*24*time.Hour), 4900),
		order("u2", t0.Add(-3*24*time.Hour), 1900),
	} {
		if err := e.Handle(ctx, timedEvent(t, int64(i), recorded, ev)); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(time.Second)
	if err := e.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := len(pub.take()); got != 2 {
		t.Fatalf("before the erasure: got %d predictions published, want 2", got)
	}

	erasedAt := t0
	erase := &privacyv1.PrivacyRequest{RequestId: "r1", UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}
	for attempt := range 2 { // the second is a redelivery
		if err := e.HandlePrivacy(ctx, privacyMsg(t, erase, erasedAt)); err != nil {
			t.Fatalf("HandlePrivacy (attempt %d): %v", attempt, err)
		}
		got := pub.take()
		if len(got) != 2 || string(got[0].Key) != "u1" || got[0].Value != nil || got[0].Topic != topics.Predictions {
			t.Fatalf("attempt %d: got %v, want a tombstone keyed u1 on %s, then the receipt", attempt, got, topics.Predictions)
		}
		// The state, then nothing left.
		if r := receiptOf(t, got[1]); r.GetRequestId() != "r1" || r.GetUserId() != "u1" || r.GetItems() != int64(1-attempt) {
			t.Errorf("attempt %d: receipt got %v, want r1 for u1 with %d items", attempt, r, 1-attempt)
		}
		if _, err := e.Predict(ctx, "u1"); !errors.Is(err, scoring.ErrUnknownUser) {
			t.Errorf("attempt %d: Predict erased user: got %v, want ErrUnknownUser", attempt, err)
		}
		if _, err := e.Explain(ctx, "u1", predictionv1.Model_MODEL_LIFETIME_VALUE); !errors.Is(err, scoring.ErrUnknownUser) {
			t.Errorf("attempt %d: Explain erased user: got %v, want ErrUnknownUser", attempt, err)
		}
	}
	if _, err := e.Predict(ctx, "u2"); err != nil {
		t.Errorf("Predict other user: got %v, want the state kept", err)
	}
	if n, err := e.Erase(ctx, "u1", erasedAt); err != nil || n != 0 {
		t.Errorf("Erase again: got %d items, %v; want 0 items, no error", n, err)
	}
	pub.take()

	// A lagging consumer delivers an event recorded before the erasure: it is not
	// applied. Nothing is due, so neither scoring runs nor flushes publish a score.
	if err := e.Handle(ctx, timedEvent(t, 10, erasedAt.Add(-time.Second), order("u1", t0.Add(-time.Hour), 500))); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Second)
	if err := e.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.ScoreAll(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	for _, m := range pub.take() {
		if string(m.Key) == "u1" {
			t.Errorf("after the erasure: published %v for u1, want nothing", m)
		}
	}
	if _, err := e.Predict(ctx, "u1"); !errors.Is(err, scoring.ErrUnknownUser) {
		t.Errorf("Predict after an event recorded before the erasure: got %v, want ErrUnknownUser", err)
	}

	// An event recorded after the erasure starts a fresh state.
	if err := e.Handle(ctx, timedEvent(t, 11, erasedAt.Add(time.Second), order("u1", t0, 700))); err != nil {
		t.Fatal(err)
	}
	p, err := e.Predict(ctx, "u1")
	if err != nil {
		t.Fatalf("Predict after a new event: %v", err)
	}
	if got, err := e.Explain(ctx, "u1", predictionv1.Model_MODEL_LIFETIME_VALUE); err != nil || got.GetUserId() != "u1" {
		t.Errorf("Explain after a new event: got %v, %v", got, err)
	}
	if p.GetUserId() != "u1" {
		t.Errorf("Predict after a new event: got %v", p)
	}
}

func TestHandlePrivacyRejectsAndSkips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		msg           func(t *testing.T) bus.Message
		wantErr       bool
		wantPermanent bool
		wantPublished int // the tombstone and the receipt
	}{
		{"other action skipped", func(t *testing.T) bus.Message {
			return privacyMsg(t, &privacyv1.PrivacyRequest{RequestId: "r", UserId: "u1"}, t0)
		}, false, false, 0},
		{"user from the key", func(t *testing.T) bus.Message {
			m := privacyMsg(t, &privacyv1.PrivacyRequest{RequestId: "r", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}, t0)
			m.Key = []byte("u1")
			return m
		}, false, false, 2},
		{"no request id", func(t *testing.T) bus.Message {
			return privacyMsg(t, &privacyv1.PrivacyRequest{UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}, t0)
		}, true, true, 0},
		{"undecodable", func(*testing.T) bus.Message {
			return bus.Message{Topic: topics.Privacy, Key: []byte("u1"), Value: []byte{0xff, 0xff}}
		}, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, pub, _, _ := newEngine(t, scoring.Config{})
			e.Apply(0, 1, order("u1", t0.Add(-time.Hour), 100))
			err := e.HandlePrivacy(context.Background(), tt.msg(t))
			if (err != nil) != tt.wantErr || bus.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("HandlePrivacy: got %v (permanent %v), want error %v, permanent %v", err, bus.IsPermanent(err), tt.wantErr, tt.wantPermanent)
			}
			if got := len(pub.take()); got != tt.wantPublished {
				t.Errorf("published: got %d, want %d", got, tt.wantPublished)
			}
		})
	}
}

func TestEraseRetriesWhenTheTombstoneFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, pub, _, _ := newEngine(t, scoring.Config{})
	e.Apply(0, 1, order("u1", t0.Add(-time.Hour), 100))
	pub.fail = errors.New("broker down")
	msg := privacyMsg(t, &privacyv1.PrivacyRequest{RequestId: "r", UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}, t0)
	if err := e.HandlePrivacy(ctx, msg); err == nil || bus.IsPermanent(err) {
		t.Fatalf("HandlePrivacy with Kafka down: got %v, want a retryable error", err)
	}
	pub.fail = nil
	if err := e.HandlePrivacy(ctx, msg); err != nil {
		t.Fatalf("HandlePrivacy retried: %v", err)
	}
	if got := pub.take(); len(got) != 2 || got[0].Value != nil || receiptOf(t, got[1]).GetItems() != 0 {
		t.Errorf("retried: got %v, want the tombstone, then the receipt (the state was dropped by the first attempt)", got)
	}
}

// gatedPublisher holds the first Publish until gate is closed, and says when it
// entered it.
type gatedPublisher struct {
	recorder
	entered chan struct{}
	gate    chan struct{}
	first   bool
}

func (g *gatedPublisher) Publish(ctx context.Context, msgs ...bus.Message) error {
	g.mu.Lock()
	first := !g.first
	g.first = true
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.recorder.Publish(ctx, msgs...)
}

func TestTombstoneFollowsAPredictionBeingPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: t0}
	reg, err := registry.Open(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pub := &gatedPublisher{entered: make(chan struct{}), gate: make(chan struct{})}
	e, err := scoring.New(scoring.Config{Debounce: time.Millisecond, Now: clk.Now}, reg, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Apply(0, 1, order("u1", t0.Add(-24*time.Hour), 100))
	clk.advance(time.Second)
	flushed := make(chan error, 1)
	go func() { flushed <- e.Flush(ctx, false) }()
	<-pub.entered // the prediction is being published
	erased := make(chan error, 1)
	go func() {
		_, err := e.Erase(ctx, "u1", t0)
		erased <- err
	}()
	close(pub.gate)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := <-erased; err != nil {
		t.Fatal(err)
	}
	got := pub.take()
	if len(got) != 2 || got[0].Value == nil || got[1].Value != nil || string(got[1].Key) != "u1" {
		t.Errorf("published: got %v, want the prediction, then the tombstone", got)
	}
}

func TestWarmUpSkipsErasedUsers(t *testing.T) {
	t.Parallel()
	erasedAt := t0.Add(-time.Hour)
	events := []struct {
		at time.Time
		ev *eventv1.Event
	}{
		{erasedAt.Add(-time.Minute), order("erased", t0.Add(-48*time.Hour), 900)},
		{erasedAt.Add(-time.Minute), order("kept", t0.Add(-48*time.Hour), 900)},
		{erasedAt.Add(time.Minute), lesson("returned", t0.Add(-30*time.Minute))},
		{erasedAt.Add(-time.Minute), order("returned", t0.Add(-48*time.Hour), 900)},
		{erasedAt.Add(-time.Minute), order("late", t0.Add(-48*time.Hour), 900)},
	}
	// The erasure requests as read before the events (call 0) and after (call 1): the
	// request for "late" was published while the events were read.
	tests := []struct {
		name       string
		erasures   func(call int, erase func(string, time.Time)) (int, error)
		wantKnown  []string
		wantWarmUp bool
	}{
		{"erasures replayed first and again after", func(call int, erase func(string, time.Time)) (int, error) {
			erase("erased", erasedAt)
			erase("returned", erasedAt)
			if call == 1 {
				erase("late", erasedAt)
			}
			return 2 + call, nil
		}, []string{"kept", "returned"}, true},
		{"erasures unreadable", func(int, func(string, time.Time)) (int, error) {
			return 0, errors.New("privacy topic unreadable")
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			warmedUp := make(chan struct{})
			calledWarmUp, calls := false, 0
			cfg := scoring.Config{
				RetrainInterval: -1,
				WarmUpErasures: func(_ context.Context, erase func(string, time.Time)) (int, error) {
					n, err := tt.erasures(calls, erase)
					calls++
					if err != nil || calls == 2 {
						close(warmedUp)
					}
					return n, err
				},
				WarmUp: func(_ context.Context, apply func(int32, time.Time, *eventv1.Event)) (int, error) {
					calledWarmUp = true
					for _, x := range events {
						apply(0, x.at, x.ev)
					}
					return len(events), nil
				},
			}
			e, _, _, _ := newEngine(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			<-warmedUp
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if calledWarmUp != tt.wantWarmUp {
				t.Errorf("event warm-up ran: got %v, want %v", calledWarmUp, tt.wantWarmUp)
			}
			for _, id := range []string{"erased", "kept", "returned", "late"} {
				_, err := e.Predict(context.Background(), id)
				want := false
				for _, k := range tt.wantKnown {
					want = want || k == id
				}
				if known := err == nil; known != want {
					t.Errorf("user %s after warm-up: got known %v (%v), want %v", id, known, err, want)
				}
			}
			if p, err := e.Predict(context.Background(), "returned"); tt.wantWarmUp && (err != nil || p.GetCurrency() != "") {
				t.Errorf("returned user: got %v, %v; want a state without the order recorded before the erasure", p, err)
			}
		})
	}
}
