// Package catalog publishes catalog items (courses, columns, audiobooks, live classes,
// ebooks, memberships) to the compacted strata.catalog.v1, keyed by item id: an upsert is
// the item's protobuf, a deletion a tombstone (a record with a null value), which
// compaction turns into the item's absence.
//
// Upsert and Delete return after Kafka acknowledged every record (acks=all). A Catalog is
// safe for concurrent use.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/rpcerr"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// ErrUnavailable wraps publish failures: nothing is known to be written, retry later.
var ErrUnavailable = errors.New("catalog: event bus unavailable")

// HeaderOp names the operation of a catalog record: OpUpsert or OpDelete.
const (
	HeaderOp = "strata-catalog-op"
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// InvalidError lists the field violations of the items of a request, with fields named
// items[i].field (or item_ids[i]); nothing was published.
type InvalidError struct {
	Violations []rpcerr.FieldViolation
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("catalog: %s: %s", e.Violations[0].Field, e.Violations[0].Description)
}

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Catalog publishes catalog changes.
type Catalog struct {
	pub       publisher
	validator protovalidate.Validator
	now       func() time.Time
}

// Option configures a Catalog.
type Option func(*Catalog)

// WithClock sets the clock that stamps items without updated_at (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *Catalog) { c.now = now } }

// New returns a Catalog publishing through pub.
func New(pub publisher, opts ...Option) (*Catalog, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("catalog: validator: %w", err)
	}
	c := &Catalog{pub: pub, validator: v, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Upsert validates every item and, when all are valid, publishes them in one write. Items
// without updated_at get the current time; the caller's items are not modified.
func (c *Catalog) Upsert(ctx context.Context, items []*eventv1.CatalogItem) error {
	var vs []rpcerr.FieldViolation
	msgs := make([]bus.Message, 0, len(items))
	for i, it := range items {
		it = proto.CloneOf(it)
		it.ItemId = strings.TrimSpace(it.GetItemId())
		if it.GetUpdatedAt() == nil {
			it.UpdatedAt = timestamppb.New(c.now())
		}
		if err := c.validator.Validate(it); err != nil {
			got, ok := rpcerr.Violations(err)
			if !ok {
				return fmt.Errorf("catalog: validate item %d: %w", i, err)
			}
			for _, v := range got {
				vs = append(vs, rpcerr.FieldViolation{Field: fmt.Sprintf("items[%d].%s", i, v.Field), Description: v.Description})
			}
			continue
		}
		value, err := proto.Marshal(it)
		if err != nil {
			return fmt.Errorf("catalog: marshal item %d: %w", i, err)
		}
		msgs = append(msgs, bus.Message{
			Topic: topics.Catalog, Key: []byte(it.GetItemId()), Value: value,
			Headers: []bus.Header{{Key: "content-type", Value: []byte("application/x-protobuf")}, {Key: HeaderOp, Value: []byte(OpUpsert)}},
		})
	}
	if len(vs) > 0 {
		return &InvalidError{Violations: vs}
	}
	return c.publish(ctx, msgs)
}

// Delete publishes a tombstone for every item id in one write.
func (c *Catalog) Delete(ctx context.Context, ids []string) error {
	var vs []rpcerr.FieldViolation
	msgs := make([]bus.Message, 0, len(ids))
	for i, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > 128 {
			vs = append(vs, rpcerr.FieldViolation{Field: fmt.Sprintf("item_ids[%d]", i), Description: "must be 1 to 128 bytes"})
			continue
		}
		msgs = append(msgs, bus.Message{
			Topic: topics.Catalog, Key: []byte(id), Value: nil,
			Headers: []bus.Header{{Key: HeaderOp, Value: []byte(OpDelete)}},
		})
	}
	if len(vs) > 0 {
		return &InvalidError{Violations: vs}
	}
	return c.publish(ctx, msgs)
}

func (c *Catalog) publish(ctx context.Context, msgs []bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := c.pub.Publish(ctx, msgs...); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}
