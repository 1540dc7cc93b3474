// Package outbox relays campaign messages from the CRM's outbox table to Kafka
// (strata.crm.messages.v1), keyed by user id.
//
// The relay reads unpublished rows that are due (a message deferred past the user's
// quiet hours waits until then) in due order, publishes a batch (Publish returns
// only once Kafka acknowledged every message), and only then stamps the rows as
// published. A crash or cancellation between the two leaves the rows unstamped: the
// next run publishes them again. Delivery is therefore at least once, never lost, and
// every copy of a message carries the same message id (in the value and in the
// message-id header), by which deliverers drop duplicates.
//
// One relay per database is enough; several are safe (they may publish a row twice,
// which the ids absorb). A Relay is safe for concurrent use.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	"github.com/stratahq/strata/services/crm/store"
)

// Headers the relay sets on every message.
const (
	HeaderMessageID  = "strata-message-id"
	HeaderCampaignID = "strata-campaign-id"
)

// Store is what the relay needs; *store.Store implements it.
type Store interface {
	PendingMessages(ctx context.Context, now time.Time, limit int) ([]store.OutboxMessage, error)
	MarkPublished(ctx context.Context, ids []string, at time.Time) error
}

// Config tunes a Relay.
type Config struct {
	// Batch is the number of messages per publish (500 when 0).
	Batch int
	// Interval is how often the relay polls when idle (1s when 0); Notify wakes it
	// sooner.
	Interval time.Duration
	// Topic is where messages go (strata.crm.messages.v1 when empty).
	Topic  string
	Logger *slog.Logger
	// Now is the clock messages are due by; time.Now when nil.
	Now func() time.Time
}

// Relay publishes the outbox.
type Relay struct {
	store Store
	pub   bus.Publisher
	cfg   Config
	wake  chan struct{}
}

// New returns a relay from s to pub.
func New(s Store, pub bus.Publisher, cfg Config) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Topic == "" {
		cfg.Topic = topics.CRMMessages
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Relay{store: s, pub: pub, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Notify wakes the relay (after a launch); it never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Flush publishes one batch and reports how many messages it published.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	msgs, err := r.store.PendingMessages(ctx, r.cfg.Now(), r.cfg.Batch)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	out := make([]bus.Message, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MessageID
		out[i] = bus.Message{Topic: r.cfg.Topic, Key: []byte(m.UserID), Value: m.Payload, Headers: []bus.Header{
			{Key: HeaderMessageID, Value: []byte(m.MessageID)}, {Key: HeaderCampaignID, Value: []byte(m.CampaignID)}}}
	}
	if err := r.pub.Publish(ctx, out...); err != nil {
		return 0, fmt.Errorf("outbox: publish %d messages: %w", len(out), err)
	}
	if err := r.store.MarkPublished(ctx, ids, r.cfg.Now()); err != nil {
		// Published but not stamped: the next flush publishes them again, with the
		// same ids.
		return 0, fmt.Errorf("outbox: mark %d messages published: %w", len(ids), err)
	}
	return len(msgs), nil
}

// Run relays until ctx is done, then returns nil. Errors are logged and retried with
// backoff (up to a minute).
func (r *Relay) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		n, err := r.Flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.cfg.Interval
		switch {
		case err != nil:
			backoff = min(max(2*backoff, 100*time.Millisecond), time.Minute)
			wait = backoff
			r.cfg.Logger.WarnContext(ctx, "outbox relay failed, will retry", "error", err, "retry_in", backoff)
		case n == r.cfg.Batch:
			backoff = 0
			continue // more may be waiting
		default:
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-r.wake:
			t.Stop()
		case <-t.C:
		}
	}
}
