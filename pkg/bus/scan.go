package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// ErrUnknownTopic is returned by Scan for a topic the brokers do not know.
var ErrUnknownTopic = errors.New("bus: unknown topic")

// scanFetchTimeout bounds one fetch of Scan before it checks again whether
// the partition is done.
const scanFetchTimeout = 5 * time.Second

// Scan reads every partition of topic, outside any consumer group, from its
// first retained offset up to the end offset (high watermark) it had when Scan
// was called, hands each record to fn and returns nil once every partition was
// read to that point. Records written after the call may or may not be seen.
//
// Records of one partition reach fn in offset order; partitions are fetched
// concurrently and interleave, but fn is never called concurrently, so it
// needs no locking of its own. Scan returns the first error of fn (and stops),
// ErrUnknownTopic for a topic the brokers do not know, or the context's
// error.
func Scan(ctx context.Context, cfg Config, topic string, fn func(ctx context.Context, msg Message) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	parts, err := PartitionRanges(ctx, cfg, topic)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		if p.First >= p.End {
			continue
		}
		g.Go(func() error {
			return scanPartition(gctx, cfg, topic, p, func(ctx context.Context, m Message) error {
				mu.Lock()
				defer mu.Unlock()
				return fn(ctx, m)
			})
		})
	}
	return g.Wait()
}

// PartitionRange is one partition of a topic with its first retained offset and its end
// offset (the high watermark: the offset its next record will get). First == End for an
// empty partition.
type PartitionRange struct {
	Partition  int
	First, End int64
}

func scanPartition(ctx context.Context, cfg Config, topic string, p PartitionRange, fn func(context.Context, Message) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   cfg.Brokers,
		Topic:     topic,
		Partition: p.Partition,
		Dialer:    &kafka.Dialer{ClientID: cfg.clientID(), Timeout: 10 * time.Second, DualStack: true},
		MinBytes:  1,
		MaxBytes:  10 << 20,
		// See readerConfig: kafka-go asks the broker to wait MaxWait-1s.
		MaxWait:        1250 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(p.First); err != nil {
		return fmt.Errorf("bus: scan %s/%d: seek: %w", topic, p.Partition, err)
	}
	for {
		fctx, cancel := context.WithTimeout(ctx, scanFetchTimeout)
		km, err := r.FetchMessage(fctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// Nothing came: either compaction removed the records before
			// the end offset (done), or the broker is slow (fetch again).
			if r.Offset() >= p.End {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("bus: scan %s/%d: %w", topic, p.Partition, err)
		}
		if km.Offset >= p.End {
			return nil
		}
		if err := fn(ctx, fromKafka(km)); err != nil {
			return err
		}
		if km.Offset >= p.End-1 {
			return nil
		}
	}
}

// PartitionRanges lists topic's partitions with their first retained and end offsets as
// of the call, or returns ErrUnknownTopic for a topic the brokers do not know.
func PartitionRanges(ctx context.Context, cfg Config, topic string) ([]PartitionRange, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport := &kafka.Transport{ClientID: cfg.clientID()}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("bus: scan %s: metadata: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(md.Topics[0].Partitions))
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("bus: scan %s: list offsets: %w", topic, err)
	}
	out := make([]PartitionRange, 0, len(res.Topics[topic]))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("bus: scan %s/%d: list offsets: %w", topic, po.Partition, po.Error)
		}
		out = append(out, PartitionRange{Partition: po.Partition, First: po.FirstOffset, End: po.LastOffset})
	}
	return out, nil
}
