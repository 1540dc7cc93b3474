package prediction

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

func TestReadRetained(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	topic := bustest.Topic(t, brokers, 2)
	var msgs []bus.Message
	var want []string
	for i := range 10 {
		id := fmt.Sprintf("e%d", i)
		b, err := proto.Marshal(&eventv1.Event{EventId: id, UserId: fmt.Sprintf("u%d", i%3)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte(fmt.Sprintf("u%d", i%3)), Value: b})
		want = append(want, id)
	}
	msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("u0"), Value: []byte{0xff, 0xff}})
	if err := bustest.Producer(t, brokers, bus.ProducerConfig{}).Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}

	var got []string
	partitionOf := map[string]int32{}
	n, err := readRetained(t.Context(), bus.Config{Brokers: brokers}, topic, func(partition int32, _ time.Time, ev *eventv1.Event) {
		got = append(got, ev.GetEventId())
		if p, ok := partitionOf[ev.GetUserId()]; ok && p != partition {
			t.Errorf("user %s: events from partitions %d and %d, want one", ev.GetUserId(), p, partition)
		}
		partitionOf[ev.GetUserId()] = partition
	})
	if err != nil {
		t.Fatalf("readRetained: %v", err)
	}
	if n != len(want) {
		t.Errorf("readRetained: got n = %d, want %d (the undecodable message skipped)", n, len(want))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("events applied: got %v, want %v", got, want)
	}
}
