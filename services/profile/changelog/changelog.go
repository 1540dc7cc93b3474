// Package changelog reads compacted topics in full, outside any consumer group: every
// instance of the profile service reads all of strata.segment-definitions.v1 to know every
// segment, and reads strata.profiles.v1 to rebuild the profile cache.
//
// [Read] reads each partition from its first offset to the end offset it had when Read
// started, and returns (it is [bus.Scan]). [Follow] does the same, reports when it has
// caught up, and keeps reading new records until its context is done. Records of one
// partition reach the callback in offset order; partitions are read concurrently, and the
// callback is never called concurrently by one Read or one Follow.
package changelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/stratahq/strata/pkg/bus"
)

// ErrNoTopic is returned for a topic the brokers do not know.
var ErrNoTopic = bus.ErrUnknownTopic

// Read calls fn with every record of topic up to the end offsets at the start of the call,
// and returns the first error fn returned; it is [bus.Scan].
func Read(ctx context.Context, cfg bus.Config, topic string, fn func(context.Context, bus.Message) error) error {
	return bus.Scan(ctx, cfg, topic, fn)
}

// Follow calls fn with every record of topic, from the first, until ctx is done; it
// closes caughtUp once the records present at the start were all handed to fn. An error
// from fn is retried after a pause (logged by fn's owner), never skipped. Follow returns
// nil when ctx is done.
func Follow(ctx context.Context, cfg bus.Config, topic string, fn func(context.Context, bus.Message) error, caughtUp chan<- struct{}) error {
	var parts []bus.PartitionRange
	for {
		var err error
		if parts, err = bus.PartitionRanges(ctx, cfg, topic); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		cfgLogger(cfg).Warn("changelog: list offsets", "topic", topic, "error", err)
		if !sleep(ctx, time.Second) {
			return nil
		}
	}
	var (
		mu      sync.Mutex
		pending sync.WaitGroup
		g       errgroup.Group
	)
	for _, p := range parts {
		caught := p.First >= p.End
		if !caught {
			pending.Add(1)
		}
		g.Go(func() error {
			r := newReader(cfg, topic, p.Partition)
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				return fmt.Errorf("changelog: seek %s/%d: %w", topic, p.Partition, err)
			}
			for {
				m, err := r.FetchMessage(ctx)
				if ctx.Err() != nil {
					if !caught {
						pending.Done()
					}
					return nil
				}
				if err != nil {
					cfgLogger(cfg).Warn("changelog: read", "topic", topic, "partition", p.Partition, "error", err)
					sleep(ctx, time.Second)
					continue
				}
				for {
					mu.Lock()
					err := fn(ctx, toBus(m))
					mu.Unlock()
					if err == nil || ctx.Err() != nil {
						break
					}
					sleep(ctx, time.Second)
				}
				if !caught && m.Offset >= p.End-1 {
					caught = true
					pending.Done()
				}
			}
		})
	}
	go func() {
		pending.Wait()
		if ctx.Err() == nil && caughtUp != nil {
			close(caughtUp)
		}
	}()
	return g.Wait()
}

func newReader(cfg bus.Config, topic string, p int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:   cfg.Brokers,
		Topic:     topic,
		Partition: p,
		Dialer:    &kafka.Dialer{ClientID: clientID(cfg), Timeout: 10 * time.Second, DualStack: true},
		MinBytes:  1,
		MaxBytes:  10 << 20,
		// As in package bus: kafka-go asks the broker to wait MaxWait-1s, keep a
		// second of slack.
		MaxWait:        1250 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
	})
}

func toBus(m kafka.Message) bus.Message {
	hs := make([]bus.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = bus.Header{Key: h.Key, Value: h.Value}
	}
	return bus.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: hs, Partition: m.Partition, Offset: m.Offset, Time: m.Time}
}

func cfgLogger(cfg bus.Config) *slog.Logger {
	if cfg.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return cfg.Logger
}

func clientID(cfg bus.Config) string {
	if cfg.ClientID == "" {
		return "strata-profile"
	}
	return cfg.ClientID
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
