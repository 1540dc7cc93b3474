package updater

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/store"
)

// memStore is an in-memory profile store. Like Redis it keeps copies, so a caller that
// mutates a profile it got changes nothing until it puts it.
type memStore struct {
	mu      sync.Mutex
	byUser  map[string]*profilev1.Profile
	getErr  error
	putErr  error
	putHits int
}

func newMemStore() *memStore { return &memStore{byUser: map[string]*profilev1.Profile{}} }

func (m *memStore) GetMany(_ context.Context, userIDs []string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getErr != nil {
		return nil, m.getErr
	}
	out := map[string][]byte{}
	for _, u := range userIDs {
		if p, ok := m.byUser[u]; ok {
			b, err := proto.Marshal(p)
			if err != nil {
				return nil, err
			}
			out[u] = b
		}
	}
	return out, nil
}

func (m *memStore) PutMany(_ context.Context, ps []store.Encoded) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putHits++
	if m.putErr != nil {
		return nil, m.putErr
	}
	stale := make([]bool, len(ps))
	for i, e := range ps {
		if cur, ok := m.byUser[e.UserID]; ok && cur.GetVersion() > e.Version {
			stale[i] = true
			continue
		}
		p := &profilev1.Profile{}
		if err := proto.Unmarshal(e.Bytes, p); err != nil {
			return nil, err
		}
		m.byUser[e.UserID] = p
	}
	return stale, nil
}

func (m *memStore) profile(userID string) *profilev1.Profile {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byUser[userID]
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newUpdater(s *memStore, pub *bustest.Recorder) *Updater {
	u := New(s, pub)
	u.now = func() time.Time { return now }
	return u
}

func eventMessage(t *testing.T, user string, partition int, offset int64, ev *eventv1.Event) bus.Message {
	t.Helper()
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal event: %v", err)
	}
	return bus.Message{Topic: topics.Events, Key: []byte(user), Value: b, Partition: partition, Offset: offset}
}

func lessonStarted(id string) *eventv1.Event {
	return &eventv1.Event{
		EventId:   id,
		Type:      eventv1.EventType_EVENT_TYPE_TRACK,
		Event:     "Lesson Started",
		UserId:    "u1",
		Timestamp: timestamppb.New(now.Add(-time.Hour)),
	}
}

func TestHandlePublishesAndStores(t *testing.T) {
	t.Parallel()
	s, pub := newMemStore(), &bustest.Recorder{}
	u := newUpdater(s, pub)
	if err := u.Handle(t.Context(), eventMessage(t, "u1", 2, 40, lessonStarted("e1"))); err != nil {
		t.Fatalf("Handle: got %v, want nil", err)
	}
	calls := pub.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d", got, want)
	}
	if got, want := len(calls[0]), 1; got != want {
		t.Fatalf("messages: got %d, want %d", got, want)
	}
	m := calls[0][0]
	if got, want := m.Topic, "strata.profiles.v1"; got != want {
		t.Errorf("topic: got %q, want %q", got, want)
	}
	if got, want := string(m.Key), "u1"; got != want {
		t.Errorf("key: got %q, want %q", got, want)
	}
	published := &profilev1.Profile{}
	if err := proto.Unmarshal(m.Value, published); err != nil {
		t.Fatalf("unmarshal published profile: %v", err)
	}
	if got, want := published.GetEventCounts()["Lesson Started"], int64(1); got != want {
		t.Errorf("event_counts[Lesson Started]: got %d, want %d", got, want)
	}
	if got, want := published.GetApplied(), (&profilev1.Position{Partition: 2, Offset: 40}); !proto.Equal(got, want) {
		t.Errorf("applied: got %v, want %v", got, want)
	}
	if got, want := published.GetUpdatedAt().AsTime(), now; !got.Equal(want) {
		t.Errorf("updated_at: got %v, want %v", got, want)
	}
	if got := s.profile("u1"); !proto.Equal(got, published) {
		t.Errorf("stored profile: got %v, want the published %v", got, published)
	}
}

func TestHandleRedelivery(t *testing.T) {
	t.Parallel()
	s, pub := newMemStore(), &bustest.Recorder{}
	u := newUpdater(s, pub)
	msg := eventMessage(t, "u1", 0, 7, lessonStarted("e1"))
	for i := range 3 {
		if err := u.Handle(t.Context(), msg); err != nil {
			t.Fatalf("Handle #%d: got %v, want nil", i, err)
		}
	}
	if got, want := len(pub.Calls()), 1; got != want {
		t.Errorf("Publish calls: got %d, want %d", got, want)
	}
	p := s.profile("u1")
	if got, want := p.GetEventCounts()["Lesson Started"], int64(1); got != want {
		t.Errorf("event_counts[Lesson Started]: got %d, want %d", got, want)
	}
	if got, want := p.GetVersion(), int64(1); got != want {
		t.Errorf("version: got %d, want %d", got, want)
	}

	// The next offset counts again.
	if err := u.Handle(t.Context(), eventMessage(t, "u1", 0, 8, lessonStarted("e2"))); err != nil {
		t.Fatalf("Handle next offset: %v", err)
	}
	if got, want := s.profile("u1").GetEventCounts()["Lesson Started"], int64(2); got != want {
		t.Errorf("event_counts after next offset: got %d, want %d", got, want)
	}
	if got, want := len(pub.Calls()), 2; got != want {
		t.Errorf("Publish calls after next offset: got %d, want %d", got, want)
	}
}

func TestHandleUsersApart(t *testing.T) {
	t.Parallel()
	s, pub := newMemStore(), &bustest.Recorder{}
	u := newUpdater(s, pub)
	for i, user := range []string{"u1", "u2", "u1"} {
		// Distinct event ids: one id at two offsets is one event stored twice.
		ev := lessonStarted(fmt.Sprintf("e%d", i))
		ev.UserId = user
		if err := u.Handle(t.Context(), eventMessage(t, user, 0, int64(i), ev)); err != nil {
			t.Fatalf("Handle %d: %v", i, err)
		}
	}
	tests := []struct {
		user string
		want int64
	}{{"u1", 2}, {"u2", 1}}
	for _, tt := range tests {
		if got := s.profile(tt.user).GetEventsTotal(); got != tt.want {
			t.Errorf("%s events_total: got %d, want %d", tt.user, got, tt.want)
		}
	}
}

func TestHandlePermanentErrors(t *testing.T) {
	t.Parallel()
	good, err := proto.Marshal(lessonStarted("e1"))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	tests := []struct {
		name string
		msg  bus.Message
	}{
		{name: "undecodable value", msg: bus.Message{Topic: topics.Events, Key: []byte("u1"), Value: []byte{0xff, 0xff, 0xff}}},
		{name: "no key", msg: bus.Message{Topic: topics.Events, Value: good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pub := newMemStore(), &bustest.Recorder{}
			err := newUpdater(s, pub).Handle(t.Context(), tt.msg)
			if err == nil {
				t.Fatalf("Handle: got nil, want an error")
			}
			if !bus.IsPermanent(err) {
				t.Errorf("bus.IsPermanent(%v): got false, want true", err)
			}
			if got, want := len(pub.Calls()), 0; got != want {
				t.Errorf("Publish calls: got %d, want %d", got, want)
			}
			if got, want := s.putHits, 0; got != want {
				t.Errorf("Put calls: got %d, want %d", got, want)
			}
		})
	}
}

func TestHandleTransientErrors(t *testing.T) {
	t.Parallel()
	errRedis := errors.New("redis down")
	errKafka := errors.New("kafka down")
	tests := []struct {
		name     string
		getErr   error
		pubErr   error
		putErr   error
		wantErr  error
		wantPubs int
	}{
		{name: "store get fails", getErr: errRedis, wantErr: errRedis, wantPubs: 0},
		{name: "publish fails", pubErr: errKafka, wantErr: errKafka, wantPubs: 1},
		{name: "store put fails", putErr: errRedis, wantErr: errRedis, wantPubs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pub := newMemStore(), &bustest.Recorder{Err: tt.pubErr}
			s.getErr, s.putErr = tt.getErr, tt.putErr
			u := newUpdater(s, pub)
			msg := eventMessage(t, "u1", 0, 1, lessonStarted("e1"))
			err := u.Handle(t.Context(), msg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Handle: got %v, want %v", err, tt.wantErr)
			}
			if bus.IsPermanent(err) {
				t.Errorf("bus.IsPermanent(%v): got true, want false (retryable)", err)
			}
			if got := len(pub.Calls()); got != tt.wantPubs {
				t.Errorf("Publish calls: got %d, want %d", got, tt.wantPubs)
			}
			if got := s.profile("u1"); got != nil {
				t.Errorf("stored profile: got %v, want none", got)
			}

			// The retry, once the dependency is back, applies the event exactly once.
			s.mu.Lock()
			s.getErr, s.putErr = nil, nil
			s.mu.Unlock()
			pub.SetErr(nil)
			if err := u.Handle(t.Context(), msg); err != nil {
				t.Fatalf("retry: got %v, want nil", err)
			}
			if got, want := s.profile("u1").GetEventsTotal(), int64(1); got != want {
				t.Errorf("events_total after retry: got %d, want %d", got, want)
			}
		})
	}
}

func TestHandleBatch(t *testing.T) {
	t.Parallel()
	s, pub := newMemStore(), &bustest.Recorder{}
	u := newUpdater(s, pub)
	var batch []bus.Message
	for i, user := range []string{"u1", "u2", "u1", "u1", "u2"} {
		ev := lessonStarted(fmt.Sprintf("e%d", i))
		ev.UserId = user
		batch = append(batch, eventMessage(t, user, 3, int64(10+i), ev))
	}
	if err := u.HandleBatch(t.Context(), batch); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	calls := pub.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d (one changelog write per batch)", got, want)
	}
	tests := []struct {
		user        string
		events      int64
		lastApplied int64
	}{{"u1", 3, 13}, {"u2", 2, 14}}
	if got, want := len(calls[0]), len(tests); got != want {
		t.Fatalf("changelog messages: got %d, want %d (the latest profile per user)", got, want)
	}
	for i, tt := range tests {
		published := &profilev1.Profile{}
		if err := proto.Unmarshal(calls[0][i].Value, published); err != nil {
			t.Fatal(err)
		}
		if got := string(calls[0][i].Key); got != tt.user {
			t.Errorf("changelog message %d: got key %q, want %q", i, got, tt.user)
		}
		if got := published.GetEventsTotal(); got != tt.events {
			t.Errorf("%s published events_total: got %d, want %d", tt.user, got, tt.events)
		}
		if got := s.profile(tt.user); got.GetEventsTotal() != tt.events || got.GetApplied().GetOffset() != tt.lastApplied {
			t.Errorf("%s stored: got events_total %d applied %v, want %d at offset %d", tt.user, got.GetEventsTotal(), got.GetApplied(), tt.events, tt.lastApplied)
		}
	}

	// The same batch again (a redelivery after a crash) counts nothing and writes nothing.
	if err := u.HandleBatch(t.Context(), batch); err != nil {
		t.Fatalf("HandleBatch again: %v", err)
	}
	if got, want := len(pub.Calls()), 1; got != want {
		t.Errorf("Publish calls after the redelivery: got %d, want %d", got, want)
	}
	if got := s.profile("u1").GetEventsTotal(); got != 3 {
		t.Errorf("u1 events_total after the redelivery: got %d, want 3", got)
	}

	// A poison message fails the batch as permanent before anything is written.
	poison := append([]bus.Message{eventMessage(t, "u3", 0, 1, lessonStarted("e9"))},
		bus.Message{Topic: topics.Events, Key: []byte("u3"), Value: []byte{0xff, 0xff}, Offset: 2})
	if err := u.HandleBatch(t.Context(), poison); !bus.IsPermanent(err) {
		t.Errorf("HandleBatch with a poison message: got %v, want a permanent error", err)
	}
	if got := s.profile("u3"); got != nil {
		t.Errorf("u3 after the failed batch: got %v, want nothing stored", got)
	}
}
