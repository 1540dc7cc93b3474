package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SegmentEntry is a user entering a segment that an active segment-entry campaign
// triggers on, waiting to be handled.
type SegmentEntry struct {
	SegmentID, UserID string
	At                time.Time
}

// recordEntry queues c's entry when it is one (the user was not a member before) and an
// active campaign triggers on the segment; called within ApplySegmentChange before the
// membership is written.
func (t *Tx) recordEntry(ctx context.Context, c SegmentChange) error {
	if !c.Enter {
		return nil
	}
	var member bool
	var version int64
	err := t.tx.QueryRowContext(ctx, `SELECT member, profile_version FROM segment_members WHERE segment_id = $1 AND user_id = $2`,
		c.SegmentID, c.UserID).Scan(&member, &version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("store: segment entry: %w", err)
	case member || version > c.ProfileVersion:
		return nil // already a member, or a stale enter
	}
	if _, err := t.tx.ExecContext(ctx, `
		INSERT INTO segment_entries (segment_id, user_id, entered_us)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM campaigns WHERE trigger_segment = $1 AND state = $4)
		ON CONFLICT (segment_id, user_id, entered_us) DO NOTHING`, c.SegmentID, c.UserID, micros(c.At), StateActive); err != nil {
		return fmt.Errorf("store: segment entry: %w", err)
	}
	return nil
}

// SegmentEntries returns up to limit queued segment entries, oldest first.
func (s *Store) SegmentEntries(ctx context.Context, limit int) ([]SegmentEntry, error) {
	var out []SegmentEntry
	err := each(ctx, s.db, `SELECT segment_id, user_id, entered_us FROM segment_entries ORDER BY entered_us, segment_id, user_id LIMIT $1`,
		[]any{limit}, func(r *sql.Rows) error {
			var e SegmentEntry
			var at int64
			if err := r.Scan(&e.SegmentID, &e.UserID, &at); err != nil {
				return err
			}
			e.At = fromMicros(at)
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: segment entries: %w", err)
	}
	return out, nil
}

// DeleteSegmentEntries removes handled entries.
func (s *Store) DeleteSegmentEntries(ctx context.Context, es []SegmentEntry) error {
	return s.inTx(ctx, func(t *Tx) error {
		for _, e := range es {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM segment_entries WHERE segment_id = $1 AND user_id = $2 AND entered_us = $3`,
				e.SegmentID, e.UserID, micros(e.At)); err != nil {
				return fmt.Errorf("store: delete segment entry: %w", err)
			}
		}
		return nil
	})
}

// TriggeredCampaigns returns the active campaigns triggered by entries into segmentID.
func (s *Store) TriggeredCampaigns(ctx context.Context, segmentID string) ([]Campaign, error) {
	out, err := s.queryCampaigns(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE trigger_segment = $1 AND state = $2 ORDER BY campaign_id`,
		[]any{segmentID, StateActive})
	if err != nil {
		return nil, fmt.Errorf("store: triggered campaigns: %w", err)
	}
	return out, nil
}

// AddToAudience adds users to an active campaign's audience in one transaction,
// serialised with launches like Launch: plan builds the audience and messages from
// candidates read in the transaction. Users already in the audience are skipped with
// their messages, so adding a user twice sends one message. It returns how many users
// were added.
func (s *Store) AddToAudience(ctx context.Context, id string, now time.Time, plan Planner) (int, error) {
	added := 0
	err := s.inTx(ctx, func(t *Tx) error {
		if err := t.d.lockLaunches(ctx, t); err != nil {
			return err
		}
		c, err := getCampaign(ctx, t.tx, id)
		if err != nil {
			return err
		}
		if c.State != StateActive {
			return fmt.Errorf("campaign %q is %s: %w", id, c.State, ErrState)
		}
		p, err := plan(ctx, c, func(q TargetQuery) ([]Candidate, error) { return candidates(ctx, t.tx, q) })
		if err != nil {
			return err
		}
		at := micros(now)
		fresh := map[string]bool{}
		for _, a := range p.Audience {
			res, err := t.tx.ExecContext(ctx, `INSERT INTO campaign_audience (campaign_id, user_id, arm, message_id, assigned_us)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id, user_id) DO NOTHING`, id, a.UserID, a.Arm, a.MessageID, at)
			if err != nil {
				return fmt.Errorf("store: add to audience: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("store: add to audience: %w", err)
			} else if n == 1 {
				fresh[a.UserID] = true
			}
		}
		for _, m := range p.Messages {
			if !fresh[m.UserID] {
				continue
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO outbox (message_id, campaign_id, user_id, channel, variant, discount_minor, created_us, payload, published_us, due_us)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)`,
				m.MessageID, id, m.UserID, m.Channel, m.Variant, m.DiscountMinor, at, m.Payload, max(at, micros(m.DueAt))); err != nil {
				return fmt.Errorf("store: add to outbox: %w", err)
			}
		}
		added = len(fresh)
		if added == 0 {
			return nil
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE campaigns SET audience_size = audience_size + $2, control_percent = $3, updated_us = $4 WHERE campaign_id = $1`,
			id, added, p.ControlPercent, at); err != nil {
			return fmt.Errorf("store: add to audience: %w", err)
		}
		return nil
	})
	return added, err
}
