package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/segment"
)

// Message is one Segment-spec call (track, identify, …) as the Segment SDKs send it. Its
// JSON form is what the files hold and the HTTP API receives; encoding/json writes map
// keys sorted, so the same Message always encodes to the same bytes.
type Message struct {
	Type        string         `json:"type"`
	MessageID   string         `json:"messageId"`
	UserID      string         `json:"userId,omitempty"`
	AnonymousID string         `json:"anonymousId,omitempty"`
	Event       string         `json:"event,omitempty"`
	Name        string         `json:"name,omitempty"`
	Timestamp   time.Time      `json:"timestamp,omitzero"`
	Context     map[string]any `json:"context,omitempty"`
	Properties  map[string]any `json:"properties,omitempty"`
	Traits      map[string]any `json:"traits,omitempty"`
}

// Key is the message's partition key: the user id, else the anonymous id (as ingest keys
// strata.events.v1).
func (m *Message) Key() string {
	if m.UserID != "" {
		return m.UserID
	}
	return m.AnonymousID
}

// Proto decodes m into the canonical event through ingest's own Segment decoder, so the
// gRPC path normalises exactly as the HTTP path does.
func (m *Message) Proto(receivedAt time.Time) (*eventv1.Event, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sink: encode message %s: %w", m.MessageID, err)
	}
	ev, err := segment.Decode(raw, "", -1, receivedAt, "", nil)
	if err != nil {
		return nil, fmt.Errorf("sink: message %s: %w", m.MessageID, err)
	}
	return ev, nil
}

// Item is one catalog item. Its JSON form uses the protobuf JSON names of
// strata.event.v1.CatalogItem, so protojson reads the items files too.
type Item struct {
	ItemID      string    `json:"itemId"`
	Type        string    `json:"type"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	CreatorID   string    `json:"creatorId,omitempty"`
	Category    string    `json:"category,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	PriceMinor  int64     `json:"priceMinor"`
	Currency    string    `json:"currency,omitempty"`
	Language    string    `json:"language,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
}

// Proto returns the item as the catalog contract.
func (it *Item) Proto() *eventv1.CatalogItem {
	p := &eventv1.CatalogItem{
		ItemId:      it.ItemID,
		Type:        eventv1.ItemType(eventv1.ItemType_value[it.Type]),
		Title:       it.Title,
		Description: it.Description,
		CreatorId:   it.CreatorID,
		Category:    it.Category,
		Tags:        it.Tags,
		PriceMinor:  it.PriceMinor,
		Currency:    it.Currency,
		Language:    it.Language,
	}
	if !it.UpdatedAt.IsZero() {
		p.UpdatedAt = timestamppb.New(it.UpdatedAt)
	}
	return p
}

// Sink is a destination for messages and items. See the package doc for its contract.
type Sink interface {
	// Send hands over one message; it may return before the message is delivered, and
	// returns the error that stopped the sink, if any.
	Send(ctx context.Context, m Message) error
	// SendItems delivers catalog items (synchronously).
	SendItems(ctx context.Context, items []Item) error
	// Close delivers what is buffered, waits for every worker and returns the first
	// error. Stats are final once it returns.
	Close(ctx context.Context) error
	// Stats reports progress; safe for concurrent use.
	Stats() Stats
}

// Stats counts what a sink did.
type Stats struct {
	// Delivered counts messages the destination acknowledged (or the file took).
	Delivered int64
	// Items counts catalog items delivered.
	Items int64
	// Requests counts requests made, retries included; Retries counts the retries.
	Requests, Retries int64
}

// ErrStopped is wrapped by Send after the sink stopped on an error.
var ErrStopped = errors.New("sink stopped")

type counters struct {
	delivered, items, requests, retries atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{Delivered: c.delivered.Load(), Items: c.items.Load(), Requests: c.requests.Load(), Retries: c.retries.Load()}
}

// Tee sends every message and item to each of sinks in turn.
func Tee(sinks ...Sink) Sink {
	if len(sinks) == 1 {
		return sinks[0]
	}
	return tee(sinks)
}

type tee []Sink

func (t tee) Send(ctx context.Context, m Message) error {
	for _, s := range t {
		if err := s.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) SendItems(ctx context.Context, items []Item) error {
	for _, s := range t {
		if err := s.SendItems(ctx, items); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Close(ctx context.Context) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// Stats reports the smallest delivered count of the sinks (what all of them have).
func (t tee) Stats() Stats {
	var out Stats
	for i, s := range t {
		st := s.Stats()
		if i == 0 || st.Delivered < out.Delivered {
			out.Delivered = st.Delivered
		}
		if i == 0 || st.Items < out.Items {
			out.Items = st.Items
		}
		out.Requests += st.Requests
		out.Retries += st.Retries
	}
	return out
}

// shard picks the worker of a key, so one key always goes to one worker.
func shard(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
