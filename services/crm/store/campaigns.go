package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Campaign states.
const (
	StateDraft     = "draft"
	StateScheduled = "scheduled"
	StateLaunched  = "launched"
	StateCancelled = "cancelled"
	// StateActive is a recurring campaign between occurrences or a segment-entry
	// campaign taking entries; StateCompleted one past its end.
	StateActive    = "active"
	StateCompleted = "completed"
)

// Campaign is a stored campaign. Definition is opaque to the store: the service's
// encoding of what the campaign targets and sends.
type Campaign struct {
	ID, Name, State, Channel string
	Definition               []byte
	CreatedAt, UpdatedAt     time.Time
	ScheduledAt, LaunchedAt  time.Time
	AudienceSize             int64
	ControlPercent           int
	// ParentID is the recurring campaign an occurrence belongs to; Runs counts a
	// recurring campaign's occurrences.
	ParentID string
	Runs     int
	// TriggerSegment is a segment-entry campaign's segment; Until ends a recurring or
	// segment-entry campaign (zero: no end).
	TriggerSegment string
	Until          time.Time
}

const campaignCols = `campaign_id, name, state, channel, definition, created_us, updated_us, scheduled_us, launched_us, audience_size, control_percent,
	parent_id, runs, trigger_segment, until_us`

func scanCampaign(sc interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var created, updated, scheduled, launched, until int64
	err := sc.Scan(&c.ID, &c.Name, &c.State, &c.Channel, &c.Definition, &created, &updated, &scheduled, &launched, &c.AudienceSize, &c.ControlPercent,
		&c.ParentID, &c.Runs, &c.TriggerSegment, &until)
	c.CreatedAt, c.UpdatedAt, c.ScheduledAt, c.LaunchedAt = fromMicros(created), fromMicros(updated), fromMicros(scheduled), fromMicros(launched)
	c.Until = fromMicros(until)
	return c, err
}

// CreateCampaign stores a new campaign; ErrExists when its id is taken.
func (s *Store) CreateCampaign(ctx context.Context, c Campaign) error {
	if c.State == "" {
		c.State = StateDraft
	}
	return s.inTx(ctx, func(t *Tx) error {
		res, err := t.tx.ExecContext(ctx, `INSERT INTO campaigns (`+campaignCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (campaign_id) DO NOTHING`,
			c.ID, c.Name, c.State, c.Channel, c.Definition, micros(c.CreatedAt), micros(c.UpdatedAt), micros(c.ScheduledAt),
			micros(c.LaunchedAt), c.AudienceSize, c.ControlPercent, c.ParentID, c.Runs, c.TriggerSegment, micros(c.Until))
		if err != nil {
			return fmt.Errorf("store: create campaign: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: create campaign: %w", err)
		} else if n == 0 {
			return fmt.Errorf("campaign %q: %w", c.ID, ErrExists)
		}
		return nil
	})
}

// Campaign returns a campaign; ErrNotFound when there is none with that id.
func (s *Store) Campaign(ctx context.Context, id string) (Campaign, error) {
	return getCampaign(ctx, s.db, id)
}

func getCampaign(ctx context.Context, q querier, id string) (Campaign, error) {
	c, err := scanCampaign(q.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE campaign_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, fmt.Errorf("campaign %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("store: campaign: %w", err)
	}
	return c, nil
}

// Cursor is a position in the campaign list (newest first); the zero Cursor is the
// start.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Campaigns lists up to limit campaigns created before the cursor, newest first.
func (s *Store) Campaigns(ctx context.Context, limit int, after Cursor) ([]Campaign, error) {
	q, args := `SELECT `+campaignCols+` FROM campaigns`, []any{}
	if after.ID != "" {
		q += ` WHERE created_us < $1 OR (created_us = $1 AND campaign_id < $2)`
		args = append(args, micros(after.CreatedAt), after.ID)
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY created_us DESC, campaign_id DESC LIMIT $%d`, len(args))
	out, err := s.queryCampaigns(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("store: campaigns: %w", err)
	}
	return out, nil
}

// queryCampaigns runs a query selecting campaignCols.
func (s *Store) queryCampaigns(ctx context.Context, q string, args []any) ([]Campaign, error) {
	var out []Campaign
	err := each(ctx, s.db, q, args, func(r *sql.Rows) error {
		c, err := scanCampaign(r)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// SetCampaignState moves a campaign from one of the states in from to state to, with
// scheduledAt (for StateScheduled). ErrNotFound or ErrState when it cannot.
func (s *Store) SetCampaignState(ctx context.Context, id string, from []string, to string, scheduledAt, now time.Time) (Campaign, error) {
	var out Campaign
	err := s.inTx(ctx, func(t *Tx) error {
		args := []any{id, to, micros(scheduledAt), micros(now)}
		ph := make([]string, len(from))
		for i, f := range from {
			args = append(args, f)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		res, err := t.tx.ExecContext(ctx, `UPDATE campaigns SET state = $2, scheduled_us = $3, updated_us = $4
			WHERE campaign_id = $1 AND state IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return fmt.Errorf("store: campaign state: %w", err)
		}
		c, err := getCampaign(ctx, t.tx, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: campaign state: %w", err)
		} else if n == 0 {
			return fmt.Errorf("campaign %q is %s: %w", id, c.State, ErrState)
		}
		out = c
		return nil
	})
	return out, err
}

// Activate moves a draft campaign to StateActive, starting at now (its launch time),
// with its next occurrence at next (zero for a segment-entry campaign).
func (s *Store) Activate(ctx context.Context, id string, next, now time.Time) (Campaign, error) {
	var out Campaign
	err := s.inTx(ctx, func(t *Tx) error {
		res, err := t.tx.ExecContext(ctx, `UPDATE campaigns SET state = $2, scheduled_us = $3, launched_us = $4, updated_us = $4
			WHERE campaign_id = $1 AND state = $5`, id, StateActive, micros(next), micros(now), StateDraft)
		if err != nil {
			return fmt.Errorf("store: activate: %w", err)
		}
		c, err := getCampaign(ctx, t.tx, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("campaign %q is %s (%v): %w", id, c.State, err, ErrState)
		}
		out = c
		return nil
	})
	return out, err
}

// Advance records a recurring campaign's occurrence run as done and schedules the next
// at next, or completes the campaign when next is zero. It is a no-op returning false
// when the run was recorded before (a retry after a crash, or another instance).
func (s *Store) Advance(ctx context.Context, id string, run int, next, now time.Time) (bool, error) {
	state := StateActive
	if next.IsZero() {
		state = StateCompleted
	}
	res, err := s.db.ExecContext(ctx, `UPDATE campaigns SET runs = $2, scheduled_us = $3, state = $4, updated_us = $5
		WHERE campaign_id = $1 AND state = $6 AND runs = $7`, id, run, micros(next), state, micros(now), StateActive, run-1)
	if err != nil {
		return false, fmt.Errorf("store: advance: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: advance: %w", err)
	}
	return n == 1, nil
}

// CompleteExpired completes the active segment-entry campaigns whose end has passed.
func (s *Store) CompleteExpired(ctx context.Context, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE campaigns SET state = $1, updated_us = $2
		WHERE state = $3 AND trigger_segment <> '' AND until_us > 0 AND until_us < $2`, StateCompleted, micros(now), StateActive); err != nil {
		return fmt.Errorf("store: complete expired campaigns: %w", err)
	}
	return nil
}

// DueCampaigns returns the ids of scheduled campaigns, and of active recurring ones,
// whose time has come.
func (s *Store) DueCampaigns(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := each(ctx, s.db, `SELECT campaign_id FROM campaigns WHERE (state = $1 OR (state = $3 AND scheduled_us > 0)) AND scheduled_us <= $2
		ORDER BY scheduled_us, campaign_id`,
		[]any{StateScheduled, micros(now), StateActive}, func(r *sql.Rows) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: due campaigns: %w", err)
	}
	return ids, nil
}

// TargetQuery selects campaign candidates: the members of the segments (every one of
// them, or any with MatchAny) whose predictions pass the bounds. The other rules
// (consent, do-not-contact, exclusions, frequency caps) are reported per candidate, so
// that a preview can count what each removes.
type TargetQuery struct {
	SegmentIDs        []string
	MatchAny          bool
	ExcludeSegmentIDs []string
	MinPropensity     *float64
	MaxPropensity     *float64
	MinChurnRisk      *float64
	MaxChurnRisk      *float64
	MinCLVMinor       *int64
	// Channel is the channel consent and frequency caps are read for.
	Channel string
	// DaySince and WeekSince start the frequency-cap windows (exclusive: a daily
	// campaign sent 24 hours ago does not count today).
	DaySince, WeekSince time.Time
	// UserIDs, when set, narrows the query to these users (segment entries).
	UserIDs []string
}

// Candidate is one user a target query selected, with what the remaining rules and
// the offer need.
type Candidate struct {
	UserID string
	// Consent is true when the user opted in to the channel.
	Consent      bool
	DoNotContact bool
	// Excluded is true when the user is in an excluded segment.
	Excluded bool
	// SentDay and SentWeek count the campaigns on the channel whose audience the user
	// was in during the cap windows: their messages, and for control and holdout
	// members the messages they would have had. Counting both keeps frequency caps from
	// removing treated users only, which would make the arms differ.
	SentDay, SentWeek  int
	HasPrediction      bool
	PurchasePropensity float64
	ChurnRisk          float64
	CLVMinor           int64
	Orders             int64
	DiscountedOrders   int64
	RFMTier, Lifecycle string
	// Timezone is the user's IANA time zone, "" when unknown.
	Timezone string
}

// Candidates runs a target query, ordered by user id.
func (s *Store) Candidates(ctx context.Context, q TargetQuery) ([]Candidate, error) {
	return candidates(ctx, s.db, q)
}

func candidates(ctx context.Context, db querier, q TargetQuery) ([]Candidate, error) {
	if len(q.SegmentIDs) == 0 {
		return nil, nil
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	list := func(vs []string) string {
		ph := make([]string, len(vs))
		for i, v := range vs {
			ph[i] = arg(v)
		}
		return strings.Join(ph, ", ")
	}
	// The members of the first segment, narrowed by EXISTS for the others (or widened
	// to the distinct members of any): shapes both planners estimate well, unlike
	// GROUP BY … HAVING COUNT(*) = n.
	var members string
	switch {
	case q.MatchAny && len(q.SegmentIDs) > 1:
		members = `SELECT DISTINCT user_id FROM segment_members WHERE member AND segment_id IN (` + list(q.SegmentIDs) + `)`
	default:
		members = `SELECT m0.user_id FROM segment_members m0 WHERE m0.member AND m0.segment_id = ` + arg(q.SegmentIDs[0])
		for k, seg := range q.SegmentIDs[1:] {
			m := fmt.Sprintf("m%d", k+1)
			members += ` AND EXISTS (SELECT 1 FROM segment_members ` + m + ` WHERE ` + m + `.segment_id = ` + arg(seg) +
				` AND ` + m + `.user_id = m0.user_id AND ` + m + `.member)`
		}
	}
	ch := arg(q.Channel)
	excluded, excludedJoin := `FALSE`, ``
	if len(q.ExcludeSegmentIDs) > 0 {
		excluded = `CASE WHEN x.user_id IS NULL THEN FALSE ELSE TRUE END`
		excludedJoin = `LEFT JOIN (SELECT DISTINCT user_id FROM segment_members WHERE member AND segment_id IN (` +
			list(q.ExcludeSegmentIDs) + `)) x ON x.user_id = s.user_id`
	}
	query := `
		SELECT s.user_id, COALESCE(k.granted, FALSE), COALESCE(c.do_not_contact, FALSE), ` + excluded + `,
			COALESCE(f.day_n, 0), COALESCE(f.week_n, 0),
			CASE WHEN p.user_id IS NULL THEN FALSE ELSE TRUE END,
			COALESCE(p.purchase_propensity, 0), COALESCE(p.churn_risk, 0), COALESCE(p.clv_minor, 0),
			COALESCE(c.orders, 0), COALESCE(c.discounted_orders, 0), COALESCE(c.rfm_tier, ''), COALESCE(c.lifecycle, ''), COALESCE(c.timezone, '')
		FROM (` + members + `) s
		LEFT JOIN customers c ON c.user_id = s.user_id
		LEFT JOIN predictions p ON p.user_id = s.user_id
		LEFT JOIN consents k ON k.user_id = s.user_id AND k.channel = ` + ch + `
		LEFT JOIN (SELECT a.user_id, SUM(CASE WHEN a.assigned_us > ` + arg(micros(q.DaySince)) + ` THEN 1 ELSE 0 END) AS day_n, COUNT(*) AS week_n
			FROM campaign_audience a JOIN campaigns cc ON cc.campaign_id = a.campaign_id
			WHERE cc.channel = ` + ch + ` AND a.assigned_us > ` + arg(micros(q.WeekSince)) + ` GROUP BY a.user_id) f ON f.user_id = s.user_id
		` + excludedJoin + `
		WHERE 1 = 1`
	if len(q.UserIDs) > 0 {
		query += ` AND s.user_id IN (` + list(q.UserIDs) + `)`
	}
	if q.MinPropensity != nil {
		query += ` AND p.purchase_propensity >= ` + arg(*q.MinPropensity)
	}
	if q.MaxPropensity != nil {
		query += ` AND p.purchase_propensity <= ` + arg(*q.MaxPropensity)
	}
	if q.MinChurnRisk != nil {
		query += ` AND p.churn_risk >= ` + arg(*q.MinChurnRisk)
	}
	if q.MaxChurnRisk != nil {
		query += ` AND p.churn_risk <= ` + arg(*q.MaxChurnRisk)
	}
	if q.MinCLVMinor != nil {
		query += ` AND p.clv_minor >= ` + arg(*q.MinCLVMinor)
	}
	query += ` ORDER BY s.user_id`
	var out []Candidate
	err := each(ctx, db, query, args, func(r *sql.Rows) error {
		var c Candidate
		if err := r.Scan(&c.UserID, &c.Consent, &c.DoNotContact, &c.Excluded, &c.SentDay, &c.SentWeek, &c.HasPrediction,
			&c.PurchasePropensity, &c.ChurnRisk, &c.CLVMinor, &c.Orders, &c.DiscountedOrders, &c.RFMTier, &c.Lifecycle, &c.Timezone); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: candidates: %w", err)
	}
	return out, nil
}

// AudienceMember is one user of a launched campaign: Arm is a variant name, "holdout"
// or "control"; MessageID is set for variant members only.
type AudienceMember struct {
	UserID, Arm, MessageID string
}

// OutboxMessage is one message to publish to strata.crm.messages.v1.
type OutboxMessage struct {
	MessageID, CampaignID, UserID string
	Channel, Variant              string
	DiscountMinor                 int64
	CreatedAt                     time.Time
	// DueAt is when the message may be delivered (the end of the user's quiet hours);
	// the launch time when zero.
	DueAt time.Time
	// Payload is the encoded message, published as is.
	Payload []byte
	// PublishedAt is set once the relay published the message.
	PublishedAt time.Time
}

// LaunchPlan is what a launch writes.
type LaunchPlan struct {
	Audience       []AudienceMember
	Messages       []OutboxMessage
	ControlPercent int
}

// Planner builds a launch plan for c inside the launch transaction; candidates runs a
// target query in that transaction.
type Planner func(ctx context.Context, c Campaign, candidates func(TargetQuery) ([]Candidate, error)) (LaunchPlan, error)

// Launch launches a draft or scheduled campaign in one transaction: it asks plan for the
// audience and messages, writes them (the messages to the outbox) and marks the
// campaign launched at now. Launches are serialised, so frequency caps hold across
// concurrent launches. Nothing is written when plan fails, when the plan's audience is
// empty (ErrEmptyAudience), or when the campaign was launched before
// (ErrAlreadyLaunched, with the stored campaign).
func (s *Store) Launch(ctx context.Context, id string, now time.Time, plan Planner) (Campaign, error) {
	var out Campaign
	err := s.inTx(ctx, func(t *Tx) error {
		if err := t.d.lockLaunches(ctx, t); err != nil {
			return err
		}
		c, err := getCampaign(ctx, t.tx, id)
		if err != nil {
			return err
		}
		out = c
		switch c.State {
		case StateLaunched:
			return ErrAlreadyLaunched
		case StateDraft, StateScheduled:
		default:
			return fmt.Errorf("campaign %q is %s: %w", id, c.State, ErrState)
		}
		p, err := plan(ctx, c, func(q TargetQuery) ([]Candidate, error) { return candidates(ctx, t.tx, q) })
		if err != nil {
			return err
		}
		if len(p.Audience) == 0 {
			return ErrEmptyAudience
		}
		at := micros(now)
		rows := make([][]any, len(p.Audience))
		for i, a := range p.Audience {
			rows[i] = []any{id, a.UserID, a.Arm, a.MessageID, at}
		}
		if err := t.d.insertRows(ctx, t, "campaign_audience", []string{"campaign_id", "user_id", "arm", "message_id", "assigned_us"}, rows); err != nil {
			return err
		}
		// In message-id order, most of the outbox's indexes grow at their end: the
		// message ids are hashes, so any other order scatters the primary key.
		msgs := slices.SortedFunc(slices.Values(p.Messages), func(a, b OutboxMessage) int { return strings.Compare(a.MessageID, b.MessageID) })
		rows = make([][]any, len(msgs))
		for i, m := range msgs {
			due := micros(m.DueAt)
			if due < at {
				due = at
			}
			rows[i] = []any{m.MessageID, id, m.UserID, m.Channel, m.Variant, m.DiscountMinor, at, m.Payload, int64(0), due}
		}
		if err := t.d.insertRows(ctx, t, "outbox", []string{"message_id", "campaign_id", "user_id", "channel", "variant",
			"discount_minor", "created_us", "payload", "published_us", "due_us"}, rows); err != nil {
			return err
		}
		res, err := t.tx.ExecContext(ctx, `UPDATE campaigns SET state = $2, launched_us = $3, updated_us = $3, audience_size = $4, control_percent = $5
			WHERE campaign_id = $1 AND state = $6`, id, StateLaunched, at, int64(len(p.Audience)), p.ControlPercent, c.State)
		if err != nil {
			return fmt.Errorf("store: launch: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("store: launch: campaign %q changed state meanwhile (%v): %w", id, err, ErrState)
		}
		out, err = getCampaign(ctx, t.tx, id)
		return err
	})
	if errors.Is(err, ErrAlreadyLaunched) {
		return out, err
	}
	if err != nil {
		return Campaign{}, err
	}
	return out, nil
}

// PendingMessages returns up to limit unpublished messages due at now (deferred ones
// wait for their time), in due order.
func (s *Store) PendingMessages(ctx context.Context, now time.Time, limit int) ([]OutboxMessage, error) {
	var out []OutboxMessage
	err := each(ctx, s.db, `SELECT message_id, campaign_id, user_id, channel, variant, discount_minor, created_us, due_us, payload
		FROM outbox WHERE published_us = 0 AND due_us <= $1 ORDER BY due_us, message_id LIMIT $2`, []any{micros(now), limit}, func(r *sql.Rows) error {
		var m OutboxMessage
		var at, due int64
		if err := r.Scan(&m.MessageID, &m.CampaignID, &m.UserID, &m.Channel, &m.Variant, &m.DiscountMinor, &at, &due, &m.Payload); err != nil {
			return err
		}
		m.CreatedAt, m.DueAt = fromMicros(at), fromMicros(due)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending messages: %w", err)
	}
	return out, nil
}

// MarkPublished stamps messages as published at at.
func (s *Store) MarkPublished(ctx context.Context, ids []string, at time.Time) error {
	const chunk = 500
	return s.inTx(ctx, func(t *Tx) error {
		for len(ids) > 0 {
			n := min(chunk, len(ids))
			args := []any{micros(at)}
			ph := make([]string, n)
			for i, id := range ids[:n] {
				args = append(args, id)
				ph[i] = fmt.Sprintf("$%d", i+2)
			}
			if _, err := t.tx.ExecContext(ctx, `UPDATE outbox SET published_us = $1 WHERE published_us = 0 AND message_id IN (`+strings.Join(ph, ", ")+`)`, args...); err != nil {
				return fmt.Errorf("store: mark published: %w", err)
			}
			ids = ids[n:]
		}
		return nil
	})
}

// Messages returns a campaign's outbox messages ordered by message id.
func (s *Store) Messages(ctx context.Context, campaignID string) ([]OutboxMessage, error) {
	var out []OutboxMessage
	err := each(ctx, s.db, `SELECT message_id, campaign_id, user_id, channel, variant, discount_minor, created_us, due_us, payload, published_us
		FROM outbox WHERE campaign_id = $1 ORDER BY message_id`, []any{campaignID}, func(r *sql.Rows) error {
		var m OutboxMessage
		var at, due, pub int64
		if err := r.Scan(&m.MessageID, &m.CampaignID, &m.UserID, &m.Channel, &m.Variant, &m.DiscountMinor, &at, &due, &m.Payload, &pub); err != nil {
			return err
		}
		m.CreatedAt, m.DueAt, m.PublishedAt = fromMicros(at), fromMicros(due), fromMicros(pub)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	return out, nil
}

// Audience returns a campaign's audience ordered by user id.
func (s *Store) Audience(ctx context.Context, campaignID string) ([]AudienceMember, error) {
	var out []AudienceMember
	err := each(ctx, s.db, `SELECT user_id, arm, message_id FROM campaign_audience WHERE campaign_id = $1 ORDER BY user_id`,
		[]any{campaignID}, func(r *sql.Rows) error {
			var a AudienceMember
			if err := r.Scan(&a.UserID, &a.Arm, &a.MessageID); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: audience: %w", err)
	}
	return out, nil
}
