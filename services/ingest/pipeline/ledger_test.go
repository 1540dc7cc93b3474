package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bustest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/ledger"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/vocab"
)

// flakyLedger is a real ledger whose Record can be made to fail.
type flakyLedger struct {
	*ledger.Ledger
	recordErr error
}

func (f *flakyLedger) Record(ctx context.Context, c ledger.Changes) error {
	if f.recordErr != nil {
		return f.recordErr
	}
	return f.Ledger.Record(ctx, c)
}

func withLedger(t *testing.T, pub *bustest.Recorder) (*pipeline.Pipeline, *miniredis.Miniredis, *flakyLedger) {
	t.Helper()
	srv := miniredis.RunT(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	l := &flakyLedger{Ledger: ledger.New(rdb, ledger.Config{})}
	p, err := pipeline.New(pub, pipeline.WithLedger(l))
	if err != nil {
		t.Fatal(err)
	}
	return p, srv, l
}

func published(t *testing.T, pub *bustest.Recorder) []*eventv1.Event {
	t.Helper()
	var out []*eventv1.Event
	for _, c := range pub.Calls() {
		for _, m := range c {
			ev := &eventv1.Event{}
			if err := proto.Unmarshal(m.Value, ev); err != nil {
				t.Fatal(err)
			}
			if got, want := string(m.Key), pipeline.Key(ev); got != want {
				t.Errorf("event %s key: got %q, want %q", ev.GetEventId(), got, want)
			}
			out = append(out, ev)
		}
	}
	return out
}

func TestDedup(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p, _, _ := withLedger(t, pub)
	batch := func() []*eventv1.Event {
		return []*eventv1.Event{validEvent("e1", "u1", ""), validEvent("e2", "u1", ""), validEvent("e1", "u1", "")}
	}
	res, err := p.Process(t.Context(), batch())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if got, want := res.Duplicate, []bool{false, false, true}; !equalB(got, want) {
		t.Errorf("first batch duplicates: got %v, want %v (e1 twice in one batch)", got, want)
	}
	res, err = p.Process(t.Context(), batch())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if got, want := res.Duplicates(), 3; got != want {
		t.Errorf("second batch duplicates: got %d, want %d", got, want)
	}
	if got, want := len(published(t, pub)), 2; got != want {
		t.Errorf("published: got %d, want %d", got, want)
	}
	// Another source may reuse a messageId.
	other := validEvent("e1", "u1", "")
	other.SourceId = "ios"
	if res, err := p.Process(t.Context(), []*eventv1.Event{other}); err != nil || res.Duplicate[0] {
		t.Errorf("same id from another source: got duplicate %v, %v; want published", res.Duplicate, err)
	}
}

func TestFailedPublishLeavesNoDedupKey(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{Err: errors.New("broker down")}
	p, _, _ := withLedger(t, pub)
	if err := p.Accept(t.Context(), validEvent("e1", "u1", "")); !errors.Is(err, pipeline.ErrUnavailable) {
		t.Fatalf("Accept with Kafka down: got %v, want ErrUnavailable", err)
	}
	pub.SetErr(nil)
	res, err := p.Process(t.Context(), []*eventv1.Event{validEvent("e1", "u1", "")})
	if err != nil || res.Duplicate[0] {
		t.Fatalf("retry: got duplicate %v, %v; want it published", res.Duplicate, err)
	}
	if got, want := len(pub.Calls()), 2; got != want {
		t.Errorf("Publish calls: got %d, want %d", got, want)
	}
}

func TestRecordFailureStillSucceeds(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p, _, l := withLedger(t, pub)
	l.recordErr = errors.New("redis went away")
	if err := p.Accept(t.Context(), validEvent("e1", "u1", "")); err != nil {
		t.Errorf("Accept: got %v, want nil (Kafka acknowledged the event)", err)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p, srv, _ := withLedger(t, pub)
	srv.Close()
	if err := p.Accept(t.Context(), validEvent("e1", "u1", "")); !errors.Is(err, pipeline.ErrUnavailable) {
		t.Errorf("Accept with Redis down: got %v, want ErrUnavailable", err)
	}
	if got := len(pub.Calls()); got != 0 {
		t.Errorf("Publish calls: got %d, want 0 (nothing published without dedup)", got)
	}
}

func identify(id, user, anon string) *eventv1.Event {
	ev := validEvent(id, user, anon)
	ev.Type, ev.Event = eventv1.EventType_EVENT_TYPE_IDENTIFY, ""
	return ev
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p, _, _ := withLedger(t, pub)
	alias := validEvent("e5", "u1", "")
	alias.Type, alias.Event, alias.PreviousId = eventv1.EventType_EVENT_TYPE_ALIAS, "", "legacy-7"
	res, err := p.Process(t.Context(), []*eventv1.Event{
		validEvent("e1", "", "a1"), // anonymous history
		identify("e2", "u1", "a1"), // joins u1: merge
		validEvent("e3", "", "a1"), // keyed by u1 now
		identify("e4", "u1", "a1"), // same link: nothing new
		alias,                      // previous id without history: no merge
	})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if got, want := res.Merges, 1; got != want {
		t.Errorf("merges: got %d, want %d", got, want)
	}
	evs := published(t, pub)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.GetEventId()+"@"+pipeline.Key(ev))
	}
	want := []string{"e1@a1", "e2@u1", pipeline.MergeEventID("a1", "u1") + "@u1", "e3@u1", "e4@u1", "e5@u1"}
	if !equal(got, want) {
		t.Fatalf("published: got %v, want %v", got, want)
	}
	merge := evs[2]
	if merge.GetEvent() != vocab.IdentityMerged || merge.GetAnonymousId() != "a1" || merge.GetPreviousId() != "a1" || merge.GetUserId() != "u1" {
		t.Errorf("merge event: got %v", merge)
	}
	for k, want := range map[string]string{"anonymous_id": "a1", "user_id": "u1", "trigger": "identify", "trigger_event_id": "e2"} {
		if got := merge.GetProperties().GetFields()[k].GetStringValue(); got != want {
			t.Errorf("merge properties.%s: got %q, want %q", k, got, want)
		}
	}

	// A later batch: the link is remembered, the merge not repeated.
	if _, err := p.Process(t.Context(), []*eventv1.Event{validEvent("e6", "", "a1"), identify("e7", "u1", "a1")}); err != nil {
		t.Fatalf("Process: %v", err)
	}
	evs = published(t, pub)
	if last := evs[len(evs)-2]; last.GetUserId() != "u1" {
		t.Errorf("later anonymous event: got user %q, want u1", last.GetUserId())
	}
	if got := len(evs); got != 8 {
		t.Errorf("published after the second batch: got %d events, want 8 (no second merge)", got)
	}
}

func TestMergeRepeatedAfterFailedPublish(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p, _, _ := withLedger(t, pub)
	if err := p.Accept(t.Context(), validEvent("e1", "", "a1")); err != nil {
		t.Fatal(err)
	}
	pub.SetErr(errors.New("broker down"))
	if err := p.Accept(t.Context(), identify("e2", "u1", "a1")); !errors.Is(err, pipeline.ErrUnavailable) {
		t.Fatalf("Accept: got %v, want ErrUnavailable", err)
	}
	pub.SetErr(nil)
	res, err := p.Process(t.Context(), []*eventv1.Event{identify("e2", "u1", "a1")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Merges, 1; got != want {
		t.Errorf("merges on the retry: got %d, want %d", got, want)
	}
}

func TestRejectedListsEveryEvent(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	p := newPipeline(t, pub)
	_, err := p.Process(t.Context(), []*eventv1.Event{validEvent("", "u1", ""), validEvent("e2", "u1", ""), validEvent("e3", "", "")})
	var re *pipeline.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("Process: got %v, want *RejectedError", err)
	}
	var idx []int
	for _, ie := range re.Events {
		idx = append(idx, ie.Index)
	}
	if len(idx) != 2 || idx[0] != 0 || idx[1] != 2 {
		t.Errorf("rejected indexes: got %v, want [0 2]", idx)
	}
	if got := len(pub.Calls()); got != 0 {
		t.Errorf("Publish calls: got %d, want 0", got)
	}
}

func TestNormalise(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"lesson_completed", vocab.LessonCompleted},
		{"  Order completed ", vocab.OrderCompleted},
		{"SUBSCRIPTION-CANCELED", vocab.SubscriptionCancelled},
		{"My Custom Thing", "My Custom Thing"},
	}
	for _, tt := range tests {
		ev := validEvent(" e1 ", " u1 ", "")
		ev.Event = tt.in
		pipeline.Normalise(ev)
		if ev.GetEvent() != tt.want || ev.GetEventId() != "e1" || ev.GetUserId() != "u1" {
			t.Errorf("Normalise(%q): got event %q id %q user %q, want %q e1 u1", tt.in, ev.GetEvent(), ev.GetEventId(), ev.GetUserId(), tt.want)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalB(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
