package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/services/crm/outbox"
	"github.com/stratahq/strata/services/crm/store"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// launched opens a store holding one launched campaign with n messages.
func launched(t *testing.T, n int) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateCampaign(ctx, store.Campaign{ID: "c1", Name: "c1", Channel: "email", Definition: []byte{0}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Launch(ctx, "c1", t0, func(context.Context, store.Campaign, func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		var p store.LaunchPlan
		for k := range n {
			u, id := fmt.Sprintf("u%05d", k), fmt.Sprintf("m%05d", k)
			p.Audience = append(p.Audience, store.AudienceMember{UserID: u, Arm: "main", MessageID: id})
			p.Messages = append(p.Messages, store.OutboxMessage{MessageID: id, UserID: u, Channel: "email", Variant: "main", Payload: []byte(id)})
		}
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crashingPublisher records what it publishes; after limit messages it records part
// of the batch, then "dies": it cancels the relay's context and fails.
type crashingPublisher struct {
	mu     sync.Mutex
	limit  int
	cancel context.CancelFunc
	got    []bus.Message
}

func (p *crashingPublisher) Publish(_ context.Context, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit >= 0 && len(p.got)+len(msgs) > p.limit {
		p.got = append(p.got, msgs[:len(msgs)/2]...) // a partly written batch
		p.cancel()
		return context.Canceled
	}
	p.got = append(p.got, msgs...)
	return nil
}

func TestRelayCrashMidwayLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 1234
	s := launched(t, n)

	ctx, cancel := context.WithCancel(context.Background())
	first := &crashingPublisher{limit: 450, cancel: cancel}
	r := outbox.New(s, first, outbox.Config{Batch: 100, Interval: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after the crash: got %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop after its context was cancelled")
	}
	pending, err := s.PendingMessages(context.Background(), t0, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 || len(pending) == n {
		t.Fatalf("pending after the crash: got %d of %d, want some", len(pending), n)
	}

	// Restart with a healthy publisher: it drains the rest.
	second := &crashingPublisher{limit: -1}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	r2 := outbox.New(s, second, outbox.Config{Batch: 100, Interval: 10 * time.Millisecond})
	go func() { done <- r2.Run(ctx2) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := s.PendingMessages(context.Background(), t0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained after restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatalf("second Run: %v", err)
	}

	seen := map[string]int{}
	for _, m := range append(first.got, second.got...) {
		id, _ := m.Header(outbox.HeaderMessageID)
		if string(m.Value) != id || string(m.Key) != "u"+id[1:] {
			t.Errorf("message %s: key %q value %q", id, m.Key, m.Value)
		}
		if c, _ := m.Header(outbox.HeaderCampaignID); c != "c1" {
			t.Errorf("message %s: campaign header %q", id, c)
		}
		seen[id]++
	}
	dups := 0
	for k := range n {
		id := fmt.Sprintf("m%05d", k)
		switch seen[id] {
		case 0:
			t.Errorf("message %s was never published", id)
		case 1:
		default:
			dups++
		}
	}
	// Only the batch in flight at the crash may go out twice.
	if dups > 100 {
		t.Errorf("duplicates: got %d, want at most one batch (100)", dups)
	}
	msgs, _ := s.Messages(context.Background(), "c1")
	for _, m := range msgs {
		if m.PublishedAt.IsZero() {
			t.Errorf("message %s not stamped published", m.MessageID)
		}
	}
}

func TestRelayRetriesAfterPublishErrors(t *testing.T) {
	t.Parallel()
	s := launched(t, 10)
	rec := &bustest.Recorder{}
	rec.SetErr(errors.New("kafka down"))
	r := outbox.New(s, rec, outbox.Config{Batch: 4})
	if _, err := r.Flush(context.Background()); err == nil {
		t.Fatalf("Flush with a failing publisher: got nil error")
	}
	if p, _ := s.PendingMessages(context.Background(), t0, 100); len(p) != 10 {
		t.Errorf("pending after a failed publish: got %d, want 10", len(p))
	}
	rec.SetErr(nil)
	total := 0
	for {
		n, err := r.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 10 {
		t.Errorf("published after recovery: got %d, want 10", total)
	}
	if got := len(rec.Messages()); got != 14 {
		t.Errorf("publish attempts recorded: got %d messages, want 14 (4 failed, then 10)", got)
	}
}

func TestRelayPublishesToKafka(t *testing.T) {
	t.Parallel()
	s := launched(t, 25)
	brokers := bustest.Brokers(t)
	topic := bustest.Topic(t, brokers, 3)
	prod := bustest.Producer(t, brokers, bus.ProducerConfig{})
	r := outbox.New(s, prod, outbox.Config{Topic: topic, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayDone := make(chan error, 1)
	go func() { relayDone <- r.Run(ctx) }()
	r.Notify()

	var mu sync.Mutex
	got := map[string]string{}
	cons, err := bus.NewConsumer(bustest.ConsumerTuning(bus.ConsumerConfig{Config: bus.Config{Brokers: brokers, Logger: bustest.Logger(t)},
		GroupID: bustest.Group(t), Topics: []string{topic}}), func(_ context.Context, m bus.Message) error {
		id, _ := m.Header(outbox.HeaderMessageID)
		mu.Lock()
		got[id] = string(m.Key)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	consDone := make(chan error, 1)
	go func() { consDone <- cons.Run(cctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of 25 messages", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ccancel()
	if err := <-consDone; err != nil {
		t.Errorf("consumer: %v", err)
	}
	cancel()
	if err := <-relayDone; err != nil {
		t.Errorf("relay: %v", err)
	}
	for id, key := range got {
		if key != "u"+id[1:] {
			t.Errorf("message %s: key %q", id, key)
		}
	}
}
