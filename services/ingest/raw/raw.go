// Package raw consumes strata.events.raw.v1, where upstream systems publish Segment-spec
// JSON with any Kafka producer, and feeds it through the same decode, validate, dedup,
// identity and publish path as the HTTP API.
//
// # Record formats
//
// The value of a record is one JSON object, one of:
//   - a Segment message: {"type":"track","event":"Lesson Started","userId":"u1",...};
//   - a Segment batch envelope: {"batch":[{...},{...}],"sentAt":...,"context":{...}};
//   - a catalog change: {"type":"catalog.upsert","items":[{CatalogItem as protobuf JSON}]}
//     or {"type":"catalog.delete","itemIds":["c1","c2"]}, published to the compacted
//     strata.catalog.v1 (an upsert as the item, a delete as a tombstone).
//
// The record key is ignored (events are re-keyed by canonical user id). The source id is
// the record's strata-source header, else "kafka". The record timestamp is the receive
// time used for clock-skew correction, so a replay normalises the same way; messages
// without a messageId get a content hash, so a replayed record deduplicates.
//
// # Failures
//
// Records are consumed in batches ([Handler.HandleBatch]) and a record is handled whole: when any of its messages is invalid, nothing of it is
// published and the handler returns a [bus.Permanent] error naming every bad message, so
// the [bus.Reliable] middleware dead-letters the record to strata.events.dlq.v1 (headers
// strata-error, strata-source-topic, strata-source-partition, strata-source-offset) and
// the partition moves on. When Kafka or Redis is unavailable the handler waits and tries
// again, with backoff, until it succeeds or the consumer stops (the record is then left
// uncommitted and redelivered): an outage must not dead-letter valid events.
package raw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/stratahq/strata/pkg/bus"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/segment"
)

// Record types of catalog changes.
const (
	TypeCatalogUpsert = "catalog.upsert"
	TypeCatalogDelete = "catalog.delete"
)

// HeaderSource names the source of a raw record; DefaultSource is used without it.
const (
	HeaderSource  = "strata-source"
	DefaultSource = "kafka"
)

// ErrInvalid is wrapped by the (permanent) errors about records that cannot be ingested.
var ErrInvalid = errors.New("invalid raw record")

type processor interface {
	Process(ctx context.Context, events []*eventv1.Event) (pipeline.Result, error)
}

type items interface {
	Upsert(ctx context.Context, items []*eventv1.CatalogItem) error
	Delete(ctx context.Context, ids []string) error
}

// Handler handles raw records.
type Handler struct {
	proc       processor
	catalog    items
	log        *slog.Logger
	maxBackoff time.Duration
}

// New returns a Handler; log may be nil.
func New(p processor, c items, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{proc: p, catalog: c, log: log, maxBackoff: 5 * time.Second}
}

// envelope is the part of a record read to tell its format.
type envelope struct {
	Type    string            `json:"type"`
	Batch   []json.RawMessage `json:"batch"`
	Items   []json.RawMessage `json:"items"`
	ItemIDs []string          `json:"itemIds"`
}

// Handle is a bus.Handler for strata.events.raw.v1.
func (h *Handler) Handle(ctx context.Context, msg bus.Message) error {
	return h.retrying(ctx, msg, func() error {
		rec, err := h.decode(msg)
		if err != nil {
			return err
		}
		return h.apply(ctx, []record{rec})
	})
}

// maxEventsPerProcess bounds the events of one pipeline call when a batch is applied.
const maxEventsPerProcess = 5000

// HandleBatch is a bus.BatchHandler for strata.events.raw.v1: it decodes every record
// first and, when all are valid, publishes their events through the pipeline in a few
// calls (in record order) and applies catalog changes where they stand. When any record
// is invalid it publishes nothing and returns that record's permanent error, so that the
// consumer re-runs the batch record by record and dead-letters just the bad one (the
// dedup window drops what a re-run publishes twice).
func (h *Handler) HandleBatch(ctx context.Context, msgs []bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	recs := make([]record, len(msgs))
	for i, msg := range msgs {
		rec, err := h.decode(msg)
		if err != nil {
			return err
		}
		recs[i] = rec
	}
	return h.retrying(ctx, msgs[0], func() error { return h.apply(ctx, recs) })
}

// retrying runs f until it succeeds, fails other than for an unavailable bus, or ctx
// ends; msg names the record in the log.
func (h *Handler) retrying(ctx context.Context, msg bus.Message, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !(errors.Is(err, pipeline.ErrUnavailable) || errors.Is(err, catalog.ErrUnavailable)) {
			return err
		}
		h.log.WarnContext(ctx, "raw: bus unavailable, retrying", "topic", msg.Topic, "partition", msg.Partition,
			"offset", msg.Offset, "attempt", attempt, "err", err)
		d := min(time.Duration(attempt)*100*time.Millisecond, h.maxBackoff)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// record is a decoded raw record: events, or a catalog change.
type record struct {
	events  []*eventv1.Event
	upserts []*eventv1.CatalogItem
	deletes []string
}

// decode reads a raw record; an invalid one is a permanent error.
func (h *Handler) decode(msg bus.Message) (record, error) {
	value := bytes.TrimSpace(msg.Value)
	if len(value) == 0 || value[0] != '{' {
		return record{}, invalid("value: not a JSON object")
	}
	if len(value) > segment.MaxBatchBytes {
		return record{}, invalid(fmt.Sprintf("value: %d bytes, limit %d", len(value), segment.MaxBatchBytes))
	}
	var env envelope
	if err := json.Unmarshal(value, &env); err != nil {
		return record{}, invalid("value: malformed JSON: " + err.Error())
	}
	switch strings.ToLower(strings.TrimSpace(env.Type)) {
	case TypeCatalogUpsert:
		items, err := decodeItems(env.Items)
		return record{upserts: items}, err
	case TypeCatalogDelete:
		if len(env.ItemIDs) == 0 {
			return record{}, invalid("itemIds: at least one item id is required")
		}
		return record{deletes: env.ItemIDs}, nil
	}
	source := DefaultSource
	if s, ok := msg.Header(HeaderSource); ok && strings.TrimSpace(s) != "" {
		source = strings.TrimSpace(s)
	}
	received := msg.Time.UTC()
	if msg.Time.IsZero() {
		received = time.Now().UTC()
	}
	var events []*eventv1.Event
	if env.Batch != nil {
		decoded, err := segment.DecodeBatch(value, received)
		if err != nil {
			return record{}, invalid(err.Error())
		}
		var problems []string
		for _, d := range decoded {
			if d.Err != nil {
				problems = append(problems, d.Err.Error())
				continue
			}
			events = append(events, d.Event)
		}
		if len(problems) > 0 {
			return record{}, invalid(strings.Join(problems, "; "))
		}
	} else {
		ev, err := segment.Decode(value, "", -1, received, "", nil)
		if err != nil {
			return record{}, invalid(err.Error())
		}
		events = append(events, ev)
	}
	for _, ev := range events {
		ev.SourceId = source
	}
	return record{events: events}, nil
}

// apply publishes the records' events, in order and in calls of at most
// maxEventsPerProcess, and applies each catalog change after the events before it.
func (h *Handler) apply(ctx context.Context, recs []record) error {
	var pending []*eventv1.Event
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := h.process(ctx, pending)
		pending = nil
		return err
	}
	for _, rec := range recs {
		switch {
		case rec.upserts != nil:
			if err := flush(); err != nil {
				return err
			}
			if err := h.catalogErr(h.catalog.Upsert(ctx, rec.upserts)); err != nil {
				return err
			}
		case rec.deletes != nil:
			if err := flush(); err != nil {
				return err
			}
			if err := h.catalogErr(h.catalog.Delete(ctx, rec.deletes)); err != nil {
				return err
			}
		default:
			if len(pending)+len(rec.events) > maxEventsPerProcess {
				if err := flush(); err != nil {
					return err
				}
			}
			pending = append(pending, rec.events...)
		}
	}
	return flush()
}

// process runs events through the pipeline; events it rejects make a permanent error.
func (h *Handler) process(ctx context.Context, events []*eventv1.Event) error {
	_, err := h.proc.Process(ctx, events)
	var re *pipeline.RejectedError
	if errors.As(err, &re) {
		problems := make([]string, len(re.Events))
		for i, ie := range re.Events {
			problems[i] = ie.Error()
		}
		return invalid(strings.Join(problems, "; "))
	}
	return err
}

func decodeItems(raws []json.RawMessage) ([]*eventv1.CatalogItem, error) {
	if len(raws) == 0 {
		return nil, invalid("items: at least one item is required")
	}
	items := make([]*eventv1.CatalogItem, len(raws))
	var problems []string
	for i, raw := range raws {
		items[i] = &eventv1.CatalogItem{}
		if err := protojson.Unmarshal(raw, items[i]); err != nil {
			problems = append(problems, fmt.Sprintf("items[%d]: %v", i, err))
		}
	}
	if len(problems) > 0 {
		return nil, invalid(strings.Join(problems, "; "))
	}
	return items, nil
}

func (h *Handler) catalogErr(err error) error {
	var ie *catalog.InvalidError
	if errors.As(err, &ie) {
		problems := make([]string, len(ie.Violations))
		for i, v := range ie.Violations {
			problems[i] = v.Field + ": " + v.Description
		}
		return invalid(strings.Join(problems, "; "))
	}
	return err
}

func invalid(reason string) error {
	return bus.Permanent(fmt.Errorf("%w: %s", ErrInvalid, reason))
}
