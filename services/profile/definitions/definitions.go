// Package definitions carries segment definitions on the compacted
// strata.segment-definitions.v1 topic (one partition, keyed by segment id, a
// strata.profile.v1.Segment holding the definition fields; a tombstone deletes): every
// instance follows the topic into its segment.Registry, and changes are made by
// publishing to it, so all instances converge on the same definitions in the same order.
//
// [Writer.Put] and [Writer.Delete] return once this instance's registry reflects the
// change (read your writes); other instances follow within a fetch round trip.
package definitions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/changelog"
	"github.com/stratahq/strata/services/profile/segment"
)

// ErrTimeout is returned when a published change did not reach the registry in time.
var ErrTimeout = errors.New("definitions: change not visible yet")

// Follow reads the topic into reg until ctx is done, closing caughtUp once the
// definitions present at start are loaded. A definition whose rule no longer compiles is
// logged and skipped.
func Follow(ctx context.Context, kafka bus.Config, topic string, reg *segment.Registry, log *slog.Logger, caughtUp chan<- struct{}) error {
	return changelog.Follow(ctx, kafka, topic, func(ctx context.Context, m bus.Message) error {
		id := string(m.Key)
		if m.Value == nil {
			reg.Delete(id)
			return nil
		}
		seg := &profilev1.Segment{}
		if err := proto.Unmarshal(m.Value, seg); err != nil {
			log.WarnContext(ctx, "definitions: undecodable definition skipped", slog.String("segment", id), slog.Any("error", err))
			return nil
		}
		if _, err := reg.Put(seg); err != nil {
			log.WarnContext(ctx, "definitions: definition skipped", slog.String("segment", id), slog.Any("error", err))
		}
		return nil
	}, caughtUp)
}

// Writer publishes definition changes and waits for them to reach the registry.
type Writer struct {
	pub     bus.Publisher
	topic   string
	reg     *segment.Registry
	timeout time.Duration
}

// NewWriter returns a writer publishing to topic and watching reg.
func NewWriter(pub bus.Publisher, topic string, reg *segment.Registry) *Writer {
	return &Writer{pub: pub, topic: topic, reg: reg, timeout: 15 * time.Second}
}

// Put publishes seg (definition fields only) and waits until the registry holds its
// version or a newer one.
func (w *Writer) Put(ctx context.Context, seg *profilev1.Segment) error {
	def := &profilev1.Segment{
		SegmentId: seg.GetSegmentId(), Name: seg.GetName(), Description: seg.GetDescription(), Rule: seg.GetRule(),
		Version: seg.GetVersion(), CreatedAt: seg.GetCreatedAt(), UpdatedAt: seg.GetUpdatedAt(),
	}
	b, err := proto.Marshal(def)
	if err != nil {
		return fmt.Errorf("definitions: encode: %w", err)
	}
	if err := w.pub.Publish(ctx, bus.Message{Topic: w.topic, Key: []byte(def.GetSegmentId()), Value: b}); err != nil {
		return fmt.Errorf("definitions: publish: %w", err)
	}
	return w.wait(ctx, func() bool {
		d, ok := w.reg.Get(def.GetSegmentId())
		return ok && d.Segment.GetVersion() >= def.GetVersion()
	})
}

// Delete publishes a tombstone for id and waits until the registry dropped it.
func (w *Writer) Delete(ctx context.Context, id string) error {
	if err := w.pub.Publish(ctx, bus.Message{Topic: w.topic, Key: []byte(id)}); err != nil {
		return fmt.Errorf("definitions: publish: %w", err)
	}
	return w.wait(ctx, func() bool {
		_, ok := w.reg.Get(id)
		return !ok
	})
}

func (w *Writer) wait(ctx context.Context, done func() bool) error {
	t := time.NewTimer(w.timeout)
	defer t.Stop()
	for {
		changed := w.reg.Changed()
		if done() {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return ErrTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
