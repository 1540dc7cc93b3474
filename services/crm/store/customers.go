package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Position is a consumed message's place: topic, partition and offset.
type Position struct {
	Topic     string
	Partition int
	Offset    int64
}

// Apply runs fn in one transaction with the recording of pos, unless pos (or a later
// offset of its partition) was applied before. It reports whether fn ran and committed.
// Instances racing for the same message (during a consumer-group rebalance) are
// serialised by the position row: the loser sees the offset applied and skips.
func (s *Store) Apply(ctx context.Context, pos Position, fn func(context.Context, *Tx) error) (bool, error) {
	applied, err := s.ApplyBatch(ctx, []Step{{Pos: pos, Fn: fn}})
	if err != nil {
		return false, err
	}
	return applied[0], nil
}

// Step is one consumed message for ApplyBatch: its position and what applying it
// writes.
type Step struct {
	Pos Position
	Fn  func(context.Context, *Tx) error
}

// ApplyBatch runs steps in order in one transaction, each as Apply would: a step whose
// position (or a later offset of its partition) was applied before is skipped, and each
// applied step records its position. It reports which steps ran; when any step fails
// nothing is written, and the caller can apply the steps one by one to find it. One
// transaction per batch rather than per message is what lets the CRM keep up with the
// event stream.
func (s *Store) ApplyBatch(ctx context.Context, steps []Step) ([]bool, error) {
	applied := make([]bool, len(steps))
	err := s.inTx(ctx, func(t *Tx) error {
		for i, st := range steps {
			ok, err := t.recordPosition(ctx, st.Pos)
			if err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			if err := st.Fn(ctx, t); err != nil {
				return err
			}
			applied[i] = true
		}
		return nil
	})
	if err != nil {
		return make([]bool, len(steps)), err
	}
	return applied, nil
}

// recordPosition records pos as applied unless it (or a later offset of its
// partition) was, and reports whether it recorded it.
func (t *Tx) recordPosition(ctx context.Context, pos Position) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `
		INSERT INTO applied_positions (topic, partition_, offset_) VALUES ($1, $2, $3)
		ON CONFLICT (topic, partition_) DO UPDATE SET offset_ = excluded.offset_
		WHERE applied_positions.offset_ < excluded.offset_`, pos.Topic, pos.Partition, pos.Offset)
	if err != nil {
		return false, fmt.Errorf("store: record position: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: record position: %w", err)
	}
	return n > 0, nil
}

// AppliedOffset returns the last applied offset of a partition, and false when none was.
func (s *Store) AppliedOffset(ctx context.Context, topic string, partition int) (int64, bool, error) {
	var off int64
	err := s.db.QueryRowContext(ctx, `SELECT offset_ FROM applied_positions WHERE topic = $1 AND partition_ = $2`, topic, partition).Scan(&off)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: applied offset: %w", err)
	}
	return off, true, nil
}

// Interaction is one timeline entry, built from a track event.
type Interaction struct {
	EventID, UserID string
	At              time.Time
	Event, Kind     string
	ItemID, OrderID string
	AmountMinor     int64
	DiscountMinor   int64
	Currency        string
	Coupon          string
	// Measure is the rating, survey score or learning minutes, when the event has one.
	Measure                         float64
	CampaignID, MessageID, TicketID string
}

// Order is a completed order.
type Order struct {
	OrderID, UserID, EventID string
	At                       time.Time
	RevenueMinor             int64
	DiscountMinor            int64
	Currency, Coupon         string
	// Referrer is the creator whose link brought the order, if any.
	Referrer      string
	RefundedMinor int64
	Items         []OrderItem
}

// Refund is money paid back on an order.
type Refund struct {
	EventID, OrderID, UserID string
	At                       time.Time
	AmountMinor              int64
	Currency                 string
}

// OrderItem is one line of an order.
type OrderItem struct {
	ItemID     string
	Quantity   int
	PriceMinor int64
	Category   string
}

// Feedback is a survey answer (metric nps, csat or ces) or an item rating (rating).
type Feedback struct {
	EventID, UserID string
	At              time.Time
	Metric          string
	Score           int
	ItemID          string
	CreatorID       string
}

// Task is a follow-up task.
type Task struct {
	TaskID, UserID, Reason string
	Score                  int
	SourceEventID          string
	Status                 string
	CreatedAt              time.Time
}

// Task statuses.
const (
	TaskOpen   = "open"
	TaskClosed = "closed"
)

// ProfileSnapshot is what the CRM keeps of a profile.
type ProfileSnapshot struct {
	UserID                        string
	Version                       int64
	RFMTier, Lifecycle, ValueTier string
	// Consent is the opt-in per channel; it replaces the stored consents.
	Consent map[string]bool
	// Timezone is the user's IANA time zone ("" when unknown), for quiet hours.
	Timezone  string
	FirstSeen time.Time
	LastSeen  time.Time
	// Snapshot is the encoded profile, returned as is by Customer.
	Snapshot  []byte
	UpdatedAt time.Time
}

// Prediction is a user's latest scores.
type Prediction struct {
	UserID             string
	PurchasePropensity float64
	ChurnRisk          float64
	CLVMinor           int64
	Currency           string
	PAlive             float64
	ScoredAt           time.Time
	// Snapshot is the encoded prediction, returned as is by Customer.
	Snapshot []byte
}

// SegmentChange is a user entering or leaving a segment.
type SegmentChange struct {
	UserID, SegmentID string
	Enter             bool
	ProfileVersion    int64
	At                time.Time
}

// CatalogItem is what the CRM keeps of a catalog item: its creator, for reports.
type CatalogItem struct {
	ItemID, CreatorID, Category string
	PriceMinor                  int64
	Currency                    string
	Deleted                     bool
}

// TouchCustomer creates the customer if needed and widens first_seen/last_interaction
// to include at.
func (t *Tx) TouchCustomer(ctx context.Context, userID string, at time.Time) error {
	us := micros(at)
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO customers (user_id, first_seen_us, last_interaction_us, updated_us) VALUES ($1, $2, $2, $2)
		ON CONFLICT (user_id) DO UPDATE SET
			first_seen_us = CASE WHEN customers.first_seen_us = 0 OR excluded.first_seen_us < customers.first_seen_us
				THEN excluded.first_seen_us ELSE customers.first_seen_us END,
			last_interaction_us = CASE WHEN excluded.last_interaction_us > customers.last_interaction_us
				THEN excluded.last_interaction_us ELSE customers.last_interaction_us END`, userID, us)
	if err != nil {
		return fmt.Errorf("store: touch customer: %w", err)
	}
	// Most events fall in a month already recorded: only a new month goes through the
	// roll-ups.
	var known int
	err = t.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM activity_months WHERE month = $1 AND user_id = $2`, Month(at), userID).Scan(&known)
	if err != nil {
		return fmt.Errorf("store: activity month: %w", err)
	}
	if known > 0 {
		return nil
	}
	_, err = t.rollup(ctx, userID, func() (bool, error) {
		res, err := t.tx.ExecContext(ctx, `INSERT INTO activity_months (month, user_id) VALUES ($1, $2) ON CONFLICT (month, user_id) DO NOTHING`,
			Month(at), userID)
		if err != nil {
			return false, fmt.Errorf("store: activity month: %w", err)
		}
		n, err := res.RowsAffected()
		return n > 0, err
	})
	return err
}

// ensureCustomer creates the customer row if it does not exist, leaving times unset.
func (t *Tx) ensureCustomer(ctx context.Context, userID string) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO customers (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, userID); err != nil {
		return fmt.Errorf("store: ensure customer: %w", err)
	}
	return nil
}

// AddInteraction stores i and reports whether it is new: false means an interaction
// with the same event id exists (a duplicate event) and the caller should skip its
// other effects. A message engagement event (Message Delivered, Opened, Clicked) of a
// campaign message is also recorded for the campaign's report.
func (t *Tx) AddInteraction(ctx context.Context, i Interaction) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `
		INSERT INTO interactions (event_id, user_id, at_us, event, kind, item_id, order_id, amount_minor,
			discount_minor, currency, coupon, measure, campaign_id, message_id, ticket_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (event_id) DO NOTHING`,
		i.EventID, i.UserID, micros(i.At), i.Event, i.Kind, i.ItemID, i.OrderID, i.AmountMinor,
		i.DiscountMinor, i.Currency, i.Coupon, i.Measure, i.CampaignID, i.MessageID, i.TicketID)
	if err != nil {
		return false, fmt.Errorf("store: add interaction: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: add interaction: %w", err)
	}
	if n == 1 && i.MessageID != "" && engagementEvents[i.Event] {
		// Engagement with a campaign message, for its report: the first of each event.
		if _, err := t.tx.ExecContext(ctx, `
			INSERT INTO message_events (message_id, event, campaign_id, variant, at_us)
			SELECT message_id, $2, campaign_id, variant, $3 FROM outbox WHERE message_id = $1
			ON CONFLICT (message_id, event) DO UPDATE SET at_us = excluded.at_us WHERE excluded.at_us < message_events.at_us`,
			i.MessageID, i.Event, micros(i.At)); err != nil {
			return false, fmt.Errorf("store: message event: %w", err)
		}
	}
	return n == 1, nil
}

// engagementEvents are the events campaign reports count per message.
var engagementEvents = map[string]bool{"Message Delivered": true, "Message Opened": true, "Message Clicked": true}

// AddOrder stores a completed order and counts it on the customer, unless an order
// with the same id exists; it reports whether the order is new. Revenue counts toward
// the customer's total only in the customer's currency (the first order's).
func (t *Tx) AddOrder(ctx context.Context, o Order) (bool, error) {
	return t.rollup(ctx, o.UserID, func() (bool, error) { return t.addOrder(ctx, o) })
}

func (t *Tx) addOrder(ctx context.Context, o Order) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `
		INSERT INTO orders (order_id, user_id, at_us, month, revenue_minor, discount_minor, currency, coupon, event_id, referrer)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (order_id) DO NOTHING`,
		o.OrderID, o.UserID, micros(o.At), Month(o.At), o.RevenueMinor, o.DiscountMinor, o.Currency, o.Coupon, o.EventID, o.Referrer)
	if err != nil {
		return false, fmt.Errorf("store: add order: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("store: add order: %w", err)
	} else if n == 0 {
		return false, nil
	}
	for k, it := range o.Items {
		if _, err := t.tx.ExecContext(ctx, `
			INSERT INTO order_items (order_id, line, item_id, quantity, price_minor, category) VALUES ($1, $2, $3, $4, $5, $6)`,
			o.OrderID, k, it.ItemID, it.Quantity, it.PriceMinor, it.Category); err != nil {
			return false, fmt.Errorf("store: add order item: %w", err)
		}
	}
	if err := t.ensureCustomer(ctx, o.UserID); err != nil {
		return false, err
	}
	discounted := 0
	if o.DiscountMinor > 0 || o.Coupon != "" {
		discounted = 1
	}
	if _, err := t.tx.ExecContext(ctx, `
		UPDATE customers SET
			orders = orders + 1,
			discounted_orders = discounted_orders + $2,
			currency = CASE WHEN currency = '' THEN $3 ELSE currency END,
			revenue_minor = revenue_minor + CASE WHEN currency = '' OR currency = $3 THEN CAST($4 AS BIGINT) ELSE 0 END
		WHERE user_id = $1`, o.UserID, discounted, o.Currency, o.RevenueMinor); err != nil {
		return false, fmt.Errorf("store: count order: %w", err)
	}
	return true, nil
}

// AddRefund records a refund on an order (known or not) and counts it on the customer,
// unless a refund with the same event id was recorded.
func (t *Tx) AddRefund(ctx context.Context, r Refund) error {
	_, err := t.rollup(ctx, r.UserID, func() (bool, error) { return t.addRefund(ctx, r) })
	return err
}

func (t *Tx) addRefund(ctx context.Context, r Refund) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `
		INSERT INTO refunds (event_id, order_id, user_id, at_us, month, amount_minor, currency) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (event_id) DO NOTHING`, r.EventID, r.OrderID, r.UserID, micros(r.At), Month(r.At), r.AmountMinor, r.Currency)
	if err != nil {
		return false, fmt.Errorf("store: add refund: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("store: add refund: %w", err)
	} else if n == 0 {
		return false, nil
	}
	if r.OrderID != "" {
		if _, err := t.tx.ExecContext(ctx, `
			UPDATE orders SET refunded_minor = refunded_minor + $2, refunded_us = $3 WHERE order_id = $1`,
			r.OrderID, r.AmountMinor, micros(r.At)); err != nil {
			return false, fmt.Errorf("store: refund order: %w", err)
		}
	}
	if err := t.ensureCustomer(ctx, r.UserID); err != nil {
		return false, err
	}
	if _, err := t.tx.ExecContext(ctx, `
		UPDATE customers SET refunds = refunds + 1,
			refunded_minor = refunded_minor + CASE WHEN currency = '' OR currency = $3 THEN CAST($2 AS BIGINT) ELSE 0 END
		WHERE user_id = $1`, r.UserID, r.AmountMinor, r.Currency); err != nil {
		return false, fmt.Errorf("store: refund customer: %w", err)
	}
	return true, nil
}

// AddFeedback stores a survey answer or rating and reports whether it is new.
func (t *Tx) AddFeedback(ctx context.Context, f Feedback) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `
		INSERT INTO feedback (event_id, user_id, at_us, day, month, metric, score, item_id, creator_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING`,
		f.EventID, f.UserID, micros(f.At), Day(f.At), Month(f.At), f.Metric, f.Score, f.ItemID, f.CreatorID)
	if err != nil {
		return false, fmt.Errorf("store: add feedback: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: add feedback: %w", err)
	}
	return n == 1, nil
}

// OpenTask stores a follow-up task unless one with its id exists.
func (t *Tx) OpenTask(ctx context.Context, task Task) error {
	if task.Status == "" {
		task.Status = TaskOpen
	}
	if _, err := t.tx.ExecContext(ctx, `
		INSERT INTO follow_up_tasks (task_id, user_id, reason, score, source_event_id, status, created_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (task_id) DO NOTHING`,
		task.TaskID, task.UserID, task.Reason, task.Score, task.SourceEventID, task.Status, micros(task.CreatedAt)); err != nil {
		return fmt.Errorf("store: open task: %w", err)
	}
	return nil
}

// PutProfile stores a profile snapshot and its consents, unless a later version is
// stored.
func (t *Tx) PutProfile(ctx context.Context, p ProfileSnapshot) error {
	if err := t.ensureCustomer(ctx, p.UserID); err != nil {
		return err
	}
	update := func() (bool, error) {
		res, err := t.tx.ExecContext(ctx, `
		UPDATE customers SET profile_version = $2, rfm_tier = $3, lifecycle = $4, value_tier = $5, profile = $6, updated_us = $7, timezone = $10,
			first_seen_us = CASE WHEN CAST($8 AS BIGINT) > 0 AND (first_seen_us = 0 OR CAST($8 AS BIGINT) < first_seen_us)
				THEN CAST($8 AS BIGINT) ELSE first_seen_us END,
			last_interaction_us = CASE WHEN CAST($9 AS BIGINT) > last_interaction_us THEN CAST($9 AS BIGINT) ELSE last_interaction_us END
		WHERE user_id = $1 AND profile_version <= $2`,
			p.UserID, p.Version, p.RFMTier, p.Lifecycle, p.ValueTier, p.Snapshot, micros(p.UpdatedAt), micros(p.FirstSeen), micros(p.LastSeen), p.Timezone)
		if err != nil {
			return false, fmt.Errorf("store: put profile: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("store: put profile: %w", err)
		}
		return n > 0, nil
	}
	// Only a new RFM tier moves the user's part of the revenue roll-ups. The lock comes
	// before the check: a concurrent change of tier is either seen here or waits.
	if err := t.d.lockUser(ctx, t, p.UserID); err != nil {
		return err
	}
	var tier string
	if err := t.tx.QueryRowContext(ctx, `SELECT rfm_tier FROM customers WHERE user_id = $1`, p.UserID).Scan(&tier); err != nil {
		return fmt.Errorf("store: put profile: %w", err)
	}
	var applied bool
	var err error
	if tier != p.RFMTier {
		applied, err = t.rollup(ctx, p.UserID, update)
	} else {
		applied, err = update()
	}
	if err != nil {
		return err
	} else if !applied {
		return nil // a later version is stored
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM consents WHERE user_id = $1`, p.UserID); err != nil {
		return fmt.Errorf("store: replace consents: %w", err)
	}
	channels := make([]string, 0, len(p.Consent))
	for ch := range p.Consent {
		channels = append(channels, ch)
	}
	slices.Sort(channels)
	for _, ch := range channels {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO consents (user_id, channel, granted, updated_us) VALUES ($1, $2, $3, $4)`,
			p.UserID, ch, p.Consent[ch], micros(p.UpdatedAt)); err != nil {
			return fmt.Errorf("store: put consent: %w", err)
		}
	}
	return nil
}

// PutPrediction stores a user's scores unless later ones are stored.
func (t *Tx) PutPrediction(ctx context.Context, p Prediction) error {
	if err := t.ensureCustomer(ctx, p.UserID); err != nil {
		return err
	}
	put := func() (bool, error) {
		if _, err := t.tx.ExecContext(ctx, `
			INSERT INTO predictions (user_id, purchase_propensity, churn_risk, clv_minor, currency, p_alive, scored_us, snapshot)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (user_id) DO UPDATE SET purchase_propensity = excluded.purchase_propensity,
				churn_risk = excluded.churn_risk, clv_minor = excluded.clv_minor, currency = excluded.currency,
				p_alive = excluded.p_alive, scored_us = excluded.scored_us, snapshot = excluded.snapshot
			WHERE predictions.scored_us <= excluded.scored_us`,
			p.UserID, p.PurchasePropensity, p.ChurnRisk, p.CLVMinor, p.Currency, p.PAlive, micros(p.ScoredAt), p.Snapshot); err != nil {
			return false, fmt.Errorf("store: put prediction: %w", err)
		}
		return true, nil
	}
	// The predicted CLV is in the roll-ups of the months the user paid in; a user
	// without orders has none. The lock comes before the check, so that an order being
	// written concurrently is either seen here or sees this prediction.
	if err := t.d.lockUser(ctx, t, p.UserID); err != nil {
		return err
	}
	var orders int
	if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM orders WHERE user_id = $1 LIMIT 1) o`, p.UserID).Scan(&orders); err != nil {
		return fmt.Errorf("store: put prediction: %w", err)
	}
	var err error
	if orders > 0 {
		_, err = t.rollup(ctx, p.UserID, put)
	} else {
		_, err = put()
	}
	return err
}

// ApplySegmentChange records an enter or exit, unless a change evaluated on a later
// profile version is stored. An entry (a user not yet a member entering) into a
// segment an active segment-entry campaign triggers on is queued for it, in the same
// transaction (see SegmentEntries).
func (t *Tx) ApplySegmentChange(ctx context.Context, c SegmentChange) error {
	if err := t.ensureCustomer(ctx, c.UserID); err != nil {
		return err
	}
	if err := t.recordEntry(ctx, c); err != nil {
		return err
	}
	// Membership groups the user's part of the revenue roll-ups by segment.
	_, err := t.rollup(ctx, c.UserID, func() (bool, error) {
		if _, err := t.tx.ExecContext(ctx, `
			INSERT INTO segment_members (segment_id, user_id, member, profile_version, since_us) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (segment_id, user_id) DO UPDATE SET member = excluded.member,
				profile_version = excluded.profile_version,
				since_us = CASE WHEN segment_members.member = excluded.member THEN segment_members.since_us ELSE excluded.since_us END
			WHERE segment_members.profile_version <= excluded.profile_version`,
			c.SegmentID, c.UserID, c.Enter, c.ProfileVersion, micros(c.At)); err != nil {
			return false, fmt.Errorf("store: segment change: %w", err)
		}
		return true, nil
	})
	return err
}

// PutCatalogItem stores or deletes (Deleted) a catalog item.
func (t *Tx) PutCatalogItem(ctx context.Context, it CatalogItem) error {
	if _, err := t.tx.ExecContext(ctx, `
		INSERT INTO catalog_items (item_id, creator_id, category, price_minor, currency, deleted) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (item_id) DO UPDATE SET creator_id = CASE WHEN excluded.deleted THEN catalog_items.creator_id ELSE excluded.creator_id END,
			category = CASE WHEN excluded.deleted THEN catalog_items.category ELSE excluded.category END,
			price_minor = CASE WHEN excluded.deleted THEN catalog_items.price_minor ELSE excluded.price_minor END,
			currency = CASE WHEN excluded.deleted THEN catalog_items.currency ELSE excluded.currency END,
			deleted = excluded.deleted`,
		it.ItemID, it.CreatorID, it.Category, it.PriceMinor, it.Currency, it.Deleted); err != nil {
		return fmt.Errorf("store: put catalog item: %w", err)
	}
	return nil
}

// CreatorOf returns the creator of an item, "" when unknown.
func (t *Tx) CreatorOf(ctx context.Context, itemID string) (string, error) {
	var c string
	err := t.tx.QueryRowContext(ctx, `SELECT creator_id FROM catalog_items WHERE item_id = $1`, itemID).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: creator of item: %w", err)
	}
	return c, nil
}

// SetDoNotContact puts a user on the do-not-contact list or takes them off it.
func (s *Store) SetDoNotContact(ctx context.Context, userID string, dnc bool, reason string, at time.Time) error {
	return s.inTx(ctx, func(t *Tx) error {
		if err := t.ensureCustomer(ctx, userID); err != nil {
			return err
		}
		if !dnc {
			reason = ""
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE customers SET do_not_contact = $2, do_not_contact_reason = $3, updated_us = $4 WHERE user_id = $1`,
			userID, dnc, reason, micros(at)); err != nil {
			return fmt.Errorf("store: do not contact: %w", err)
		}
		return nil
	})
}

// Customer is the stored 360 view of one user.
type Customer struct {
	UserID          string
	FirstSeen       time.Time
	LastInteraction time.Time
	OrderCount      int64
	RevenueMinor    int64
	Refunds         int64
	RefundedMinor   int64
	Currency        string
	RFMTier         string
	DoNotContact    bool
	// Profile and Prediction are the encoded snapshots, nil when none arrived.
	Profile      []byte
	Prediction   []byte
	Consent      map[string]bool
	Segments     []string
	Interactions []Interaction
	Orders       []Order
	Feedback     []Feedback
	Campaigns    []CampaignTouch
	OpenTasks    []Task
}

// CampaignTouch is a user's place in a campaign's audience.
type CampaignTouch struct {
	CampaignID, Arm, MessageID string
	At                         time.Time
}

// Customer returns the 360 view of a user with the latest limit interactions (and up to
// limit orders, answers and campaigns); ErrNotFound when the CRM knows nothing of them.
func (s *Store) Customer(ctx context.Context, userID string, limit int) (Customer, error) {
	c := Customer{UserID: userID, Consent: map[string]bool{}}
	var first, last int64
	err := s.db.QueryRowContext(ctx, `
		SELECT first_seen_us, last_interaction_us, orders, revenue_minor, refunds, refunded_minor, currency, rfm_tier, do_not_contact, profile
		FROM customers WHERE user_id = $1`, userID).
		Scan(&first, &last, &c.OrderCount, &c.RevenueMinor, &c.Refunds, &c.RefundedMinor, &c.Currency, &c.RFMTier, &c.DoNotContact, &c.Profile)
	if errors.Is(err, sql.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("store: customer: %w", err)
	}
	c.FirstSeen, c.LastInteraction = fromMicros(first), fromMicros(last)
	if err := s.db.QueryRowContext(ctx, `SELECT snapshot FROM predictions WHERE user_id = $1`, userID).Scan(&c.Prediction); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Customer{}, fmt.Errorf("store: customer prediction: %w", err)
	}
	if err := each(ctx, s.db, `SELECT channel, granted FROM consents WHERE user_id = $1`, []any{userID}, func(r *sql.Rows) error {
		var ch string
		var ok bool
		if err := r.Scan(&ch, &ok); err != nil {
			return err
		}
		c.Consent[ch] = ok
		return nil
	}); err != nil {
		return Customer{}, fmt.Errorf("store: customer consents: %w", err)
	}
	if err := each(ctx, s.db, `SELECT segment_id FROM segment_members WHERE user_id = $1 AND member ORDER BY segment_id`, []any{userID}, func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		c.Segments = append(c.Segments, id)
		return nil
	}); err != nil {
		return Customer{}, fmt.Errorf("store: customer segments: %w", err)
	}
	if err := each(ctx, s.db, `
		SELECT event_id, at_us, event, kind, item_id, order_id, amount_minor, discount_minor, currency, coupon, measure, campaign_id, message_id, ticket_id
		FROM interactions WHERE user_id = $1 ORDER BY at_us DESC, event_id DESC LIMIT $2`, []any{userID, limit}, func(r *sql.Rows) error {
		i := Interaction{UserID: userID}
		var at int64
		if err := r.Scan(&i.EventID, &at, &i.Event, &i.Kind, &i.ItemID, &i.OrderID, &i.AmountMinor, &i.DiscountMinor,
			&i.Currency, &i.Coupon, &i.Measure, &i.CampaignID, &i.MessageID, &i.TicketID); err != nil {
			return err
		}
		i.At = fromMicros(at)
		c.Interactions = append(c.Interactions, i)
		return nil
	}); err != nil {
		return Customer{}, fmt.Errorf("store: customer interactions: %w", err)
	}
	if err := each(ctx, s.db, `
		SELECT order_id, event_id, at_us, revenue_minor, discount_minor, currency, coupon, refunded_minor
		FROM orders WHERE user_id = $1 ORDER BY at_us DESC, order_id DESC LIMIT $2`, []any{userID, limit}, func(r *sql.Rows) error {
		o := Order{UserID: userID}
		var at int64
		if err := r.Scan(&o.OrderID, &o.EventID, &at, &o.RevenueMinor, &o.DiscountMinor, &o.Currency, &o.Coupon, &o.RefundedMinor); err != nil {
			return err
		}
		o.At = fromMicros(at)
		c.Orders = append(c.Orders, o)
		return nil
	}); err != nil {
		return Customer{}, fmt.Errorf("store: customer orders: %w", err)
	}
	for k := range c.Orders {
		o := &c.Orders[k]
		if err := each(ctx, s.db, `SELECT item_id, quantity, price_minor, category FROM order_items WHERE order_id = $1 ORDER BY line`, []any{o.OrderID}, func(r *sql.Rows) error {
			var it OrderItem
			if err := r.Scan(&it.ItemID, &it.Quantity, &it.PriceMinor, &it.Category); err != nil {
				return err
			}
			o.Items = append(o.Items, it)
			return nil
		}); err != nil {
			return Customer{}, fmt.Errorf("store: customer order items: %w", err)
		}
	}
	if err := each(ctx, s.db, `
		SELECT event_id, at_us, metric, score, item_id, creator_id FROM feedback WHERE user_id = $1 ORDER BY at_us DESC, event_id DESC LIMIT $2`,
		[]any{userID, limit}, func(r *sql.Rows) error {
			f := Feedback{UserID: userID}
			var at int64
			if err := r.Scan(&f.EventID, &at, &f.Metric, &f.Score, &f.ItemID, &f.CreatorID); err != nil {
				return err
			}
			f.At = fromMicros(at)
			c.Feedback = append(c.Feedback, f)
			return nil
		}); err != nil {
		return Customer{}, fmt.Errorf("store: customer feedback: %w", err)
	}
	if err := each(ctx, s.db, `
		SELECT campaign_id, arm, message_id, assigned_us FROM campaign_audience WHERE user_id = $1 ORDER BY assigned_us DESC, campaign_id LIMIT $2`,
		[]any{userID, limit}, func(r *sql.Rows) error {
			var ct CampaignTouch
			var at int64
			if err := r.Scan(&ct.CampaignID, &ct.Arm, &ct.MessageID, &at); err != nil {
				return err
			}
			ct.At = fromMicros(at)
			c.Campaigns = append(c.Campaigns, ct)
			return nil
		}); err != nil {
		return Customer{}, fmt.Errorf("store: customer campaigns: %w", err)
	}
	tasks, err := s.tasks(ctx, `WHERE user_id = $1 AND status = 'open'`, []any{userID}, limit)
	if err != nil {
		return Customer{}, err
	}
	c.OpenTasks = tasks
	return c, nil
}

// Tasks lists follow-up tasks, newest first; only open ones with openOnly.
func (s *Store) Tasks(ctx context.Context, openOnly bool, limit int) ([]Task, error) {
	if openOnly {
		return s.tasks(ctx, `WHERE status = 'open'`, nil, limit)
	}
	return s.tasks(ctx, ``, nil, limit)
}

func (s *Store) tasks(ctx context.Context, where string, args []any, limit int) ([]Task, error) {
	var out []Task
	args = append(args, limit)
	q := fmt.Sprintf(`SELECT task_id, user_id, reason, score, source_event_id, status, created_us FROM follow_up_tasks %s
		ORDER BY created_us DESC, task_id LIMIT $%d`, where, len(args))
	err := each(ctx, s.db, q, args, func(r *sql.Rows) error {
		var t Task
		var at int64
		if err := r.Scan(&t.TaskID, &t.UserID, &t.Reason, &t.Score, &t.SourceEventID, &t.Status, &at); err != nil {
			return err
		}
		t.CreatedAt = fromMicros(at)
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: tasks: %w", err)
	}
	return out, nil
}

// each runs a query and calls fn for every row.
func each(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
