package prediction

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// readRetained reads every partition of topic from its oldest retained offset up to
// its end as of the call, handing each event to apply; undecodable messages are
// skipped (the consumer group dead-letters them). It rebuilds the engine's per-user
// state after a restart, since the group resumes from its committed offsets; events
// the group redelivers afterwards are deduplicated by event id.
//
// It reads with kafka-go directly because pkg/bus has no bounded partition reader
// yet; it belongs there as a helper once one exists.
func readRetained(ctx context.Context, cfg bus.Config, topic string, apply func(partition int32, ev *eventv1.Event)) (int, error) {
	transport := &kafka.Transport{ClientID: "strata-prediction-warmup"}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("prediction: warm-up metadata of %s: %w", topic, err)
	}
	var req []kafka.OffsetRequest
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("prediction: warm-up metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			req = append(req, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return 0, fmt.Errorf("prediction: warm-up offsets of %s: %w", topic, err)
	}
	n := 0
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			return n, fmt.Errorf("prediction: warm-up offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		read, err := readPartition(ctx, cfg, topic, po.Partition, po.FirstOffset, po.LastOffset, apply)
		n += read
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func readPartition(ctx context.Context, cfg bus.Config, topic string, partition int, first, end int64, apply func(int32, *eventv1.Event)) (int, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 500 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return 0, fmt.Errorf("prediction: warm-up %s/%d: %w", topic, partition, err)
	}
	n := 0
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return n, fmt.Errorf("prediction: warm-up %s/%d: %w", topic, partition, err)
		}
		var ev eventv1.Event
		if proto.Unmarshal(m.Value, &ev) == nil {
			apply(int32(partition), &ev)
			n++
		}
		if m.Offset >= end-1 {
			return n, nil
		}
	}
}
