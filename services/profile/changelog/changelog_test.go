package changelog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/services/profile/changelog"
)

func TestReadAndFollow(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	cfg := bus.Config{Brokers: brokers}
	topic := bustest.Topic(t, brokers, 3)
	empty := bustest.Topic(t, brokers, 2)
	p := bustest.Producer(t, brokers, bus.ProducerConfig{})
	ctx := context.Background()
	var want []string
	var msgs []bus.Message
	for i := range 30 {
		v := fmt.Sprintf("v%02d", i)
		want = append(want, v)
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(v)})
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []string
	byKey := map[string][]string{}
	err := changelog.Read(ctx, cfg, topic, func(_ context.Context, m bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Value))
		byKey[string(m.Key)] = append(byKey[string(m.Key)], string(m.Value))
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Read: got %v, want %v", got, want)
	}
	for k, vs := range byKey {
		if !slices.IsSorted(vs) {
			t.Errorf("key %s: records out of order: %v", k, vs)
		}
	}
	if err := changelog.Read(ctx, cfg, empty, func(context.Context, bus.Message) error { return errors.New("no records expected") }); err != nil {
		t.Errorf("Read of an empty topic: %v", err)
	}
	boom := errors.New("boom")
	if err := changelog.Read(ctx, cfg, topic, func(context.Context, bus.Message) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Read with a failing callback: got %v, want %v", err, boom)
	}

	// Follow: caught up after the 30 existing records, then sees a new one.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	caught := make(chan struct{})
	var n int
	var last string
	done := make(chan error, 1)
	go func() {
		done <- changelog.Follow(fctx, cfg, topic, func(_ context.Context, m bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			n++
			last = string(m.Value)
			return nil
		}, caught)
	}()
	select {
	case <-caught:
	case <-time.After(30 * time.Second):
		t.Fatal("Follow did not catch up")
	}
	mu.Lock()
	if n < 30 {
		t.Errorf("records when caught up: got %d, want 30", n)
	}
	mu.Unlock()
	if err := p.Publish(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		ok := last == "new" && n == 31
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Follow: got %d records, last %q; want 31, last new", n, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow: %v", err)
	}
	if err := changelog.Read(ctx, cfg, "no-such-topic", nil); err == nil {
		t.Error("Read of an unknown topic: got nil, want an error")
	}
}
