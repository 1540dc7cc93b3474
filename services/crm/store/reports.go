package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// ArmQuery asks for the outcome of a campaign's arms.
type ArmQuery struct {
	CampaignID string
	// Goal is the conversion event; Window how long after the send (for the control,
	// after the launch) it counts.
	Goal   string
	Window time.Duration
	// Currency is the currency revenue is summed in; other currencies are left out.
	Currency string
	// Coupon identifies the campaign's redemptions for the discount cost.
	Coupon string
}

// ArmStats is one arm's raw outcome.
type ArmStats struct {
	Arm string
	// Audience counts the arm's users; Sends those whose message was published.
	Audience, Sends int64
	// Conversions counts users with at least one attributed goal event; RevenueMinor
	// sums those events' amounts, DiscountMinor their discounts with the coupon.
	Conversions   int64
	RevenueMinor  int64
	DiscountMinor int64
	// Delivered, Opened and Clicked count messages with such an event.
	Delivered, Opened, Clicked int64
}

// ArmStats returns the outcome of every arm of a campaign, ordered by arm. A goal event
// at time t counts for a user assigned at a (send or launch) when a <= t <= a + window
// and no other campaign messaged the user in (a, t] (last touch).
func (s *Store) ArmStats(ctx context.Context, q ArmQuery) ([]ArmStats, error) {
	byArm := map[string]*ArmStats{}
	var arms []string
	arm := func(name string) *ArmStats {
		a := byArm[name]
		if a == nil {
			a = &ArmStats{Arm: name}
			byArm[name] = a
			arms = append(arms, name)
		}
		return a
	}
	// Three narrow queries rather than one join of the whole audience with everything:
	// the audience per arm (an index-only scan), the sends per variant (the campaign's
	// outbox rows), and the conversions, found from the goal events inside the window
	// (the interactions_event_at range) and joined to the audience by primary key.
	var first, last int64
	err := each(ctx, s.db, `SELECT arm, COUNT(*), COALESCE(MIN(assigned_us), 0), COALESCE(MAX(assigned_us), 0)
		FROM campaign_audience WHERE campaign_id = $1 GROUP BY arm ORDER BY arm`, []any{q.CampaignID}, func(r *sql.Rows) error {
		var name string
		var n, lo, hi int64
		if err := r.Scan(&name, &n, &lo, &hi); err != nil {
			return err
		}
		arm(name).Audience = n
		if first == 0 || lo < first {
			first = lo
		}
		last = max(last, hi)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: arm stats: %w", err)
	}
	if len(arms) == 0 {
		return nil, nil
	}
	err = each(ctx, s.db, `SELECT variant, COUNT(*) FROM outbox WHERE campaign_id = $1 AND published_us > 0 GROUP BY variant`,
		[]any{q.CampaignID}, func(r *sql.Rows) error {
			var name string
			var n int64
			if err := r.Scan(&name, &n); err != nil {
				return err
			}
			if a := byArm[name]; a != nil {
				a.Sends = n
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: arm sends: %w", err)
	}
	window := q.Window.Microseconds()
	err = each(ctx, s.db, `
		SELECT u.arm, COUNT(*), CAST(SUM(u.revenue) AS BIGINT), CAST(SUM(u.discount) AS BIGINT)
		FROM (
			SELECT a.user_id, a.arm,
				SUM(CASE WHEN i.currency = $3 THEN i.amount_minor ELSE 0 END) AS revenue,
				SUM(CASE WHEN i.coupon = $4 AND i.coupon <> '' THEN i.discount_minor ELSE 0 END) AS discount
			FROM interactions i
			JOIN campaign_audience a ON a.campaign_id = $1 AND a.user_id = i.user_id
			WHERE i.event = $2 AND i.at_us >= $6 AND i.at_us <= $7
				AND i.at_us >= a.assigned_us AND i.at_us <= a.assigned_us + $5
				AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.user_id = a.user_id AND x.campaign_id <> a.campaign_id
					AND x.created_us > a.assigned_us AND x.created_us <= i.at_us)
			GROUP BY a.user_id, a.arm
		) u
		GROUP BY u.arm`,
		[]any{q.CampaignID, q.Goal, q.Currency, q.Coupon, window, first, last + window}, func(r *sql.Rows) error {
			var name string
			var n, rev, disc int64
			if err := r.Scan(&name, &n, &rev, &disc); err != nil {
				return err
			}
			a := arm(name)
			a.Conversions, a.RevenueMinor, a.DiscountMinor = n, rev, disc
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: arm conversions: %w", err)
	}
	err = each(ctx, s.db, `SELECT variant, event, COUNT(*) FROM message_events WHERE campaign_id = $1 GROUP BY variant, event`,
		[]any{q.CampaignID}, func(r *sql.Rows) error {
			var arm, event string
			var n int64
			if err := r.Scan(&arm, &event, &n); err != nil {
				return err
			}
			a := byArm[arm]
			if a == nil {
				return nil
			}
			switch event {
			case "Message Delivered":
				a.Delivered = n
			case "Message Opened":
				a.Opened = n
			case "Message Clicked":
				a.Clicked = n
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: engagement stats: %w", err)
	}
	slices.Sort(arms)
	out := make([]ArmStats, len(arms))
	for i, a := range arms {
		out[i] = *byArm[a]
	}
	return out, nil
}

// Satisfaction dimensions.
const (
	ByOverall = "overall"
	BySegment = "segment"
	ByRFMTier = "rfm_tier"
	ByItem    = "item"
	ByCreator = "creator"
	ByDay     = "day"
	ByWeek    = "week"
	ByMonth   = "month"
)

// SatisfactionQuery asks for feedback counts grouped by a dimension, over answers in
// [From, To) (unbounded ends when zero).
type SatisfactionQuery struct {
	Dimension string
	From, To  time.Time
}

// SatisfactionRow counts one metric's answers in one group. Key is the group: "" for
// overall, a segment id, an RFM tier, an item or creator id, or for time dimensions the
// day number (day and week: the week's Monday) or YYYYMM, as text.
type SatisfactionRow struct {
	Key, Metric string
	Responses   int64
	// Promoters (NPS 9–10), Detractors (NPS 0–6), Satisfied (CSAT 4–5).
	Promoters, Detractors, Satisfied int64
	ScoreSum                         int64
}

// Satisfaction returns feedback counts per group and metric, ordered by key and metric.
func (s *Store) Satisfaction(ctx context.Context, q SatisfactionQuery) ([]SatisfactionRow, error) {
	var key, join, where string
	switch q.Dimension {
	case ByOverall, "":
		key = `''`
	case BySegment:
		key, join = `m.segment_id`, `JOIN segment_members m ON m.user_id = f.user_id AND m.member`
	case ByRFMTier:
		key, join = `COALESCE(c.rfm_tier, '')`, `LEFT JOIN customers c ON c.user_id = f.user_id`
	case ByItem:
		key, where = `f.item_id`, ` AND f.item_id <> ''`
	case ByCreator:
		key = `COALESCE(NULLIF(f.creator_id, ''), ci.creator_id, '')`
		join = `LEFT JOIN catalog_items ci ON ci.item_id = f.item_id AND f.item_id <> ''`
		where = ` AND COALESCE(NULLIF(f.creator_id, ''), ci.creator_id, '') <> ''`
	case ByDay:
		key = `CAST(f.day AS TEXT)`
	case ByWeek:
		// Day 0 (1970-01-01) was a Thursday: (day + 3) / 7 numbers Monday-based weeks.
		key = `CAST(((f.day + 3) / 7) * 7 - 3 AS TEXT)`
	case ByMonth:
		key = `CAST(f.month AS TEXT)`
	default:
		return nil, fmt.Errorf("store: unknown satisfaction dimension %q", q.Dimension)
	}
	args := []any{micros(q.From), micros(q.To)}
	if q.From.IsZero() {
		args[0] = int64(-1 << 62)
	}
	if q.To.IsZero() {
		args[1] = int64(1 << 62)
	}
	query := `
		SELECT ` + key + ` AS k, f.metric, COUNT(*),
			CAST(SUM(CASE WHEN f.metric = 'nps' AND f.score >= 9 THEN 1 ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN f.metric = 'nps' AND f.score <= 6 THEN 1 ELSE 0 END) AS BIGINT),
			CAST(SUM(CASE WHEN f.metric = 'csat' AND f.score >= 4 THEN 1 ELSE 0 END) AS BIGINT),
			CAST(SUM(f.score) AS BIGINT)
		FROM feedback f ` + join + `
		WHERE f.at_us >= $1 AND f.at_us < $2` + where + `
		GROUP BY 1, 2 ORDER BY 1, 2`
	var out []SatisfactionRow
	err := each(ctx, s.db, query, args, func(r *sql.Rows) error {
		var row SatisfactionRow
		if err := r.Scan(&row.Key, &row.Metric, &row.Responses, &row.Promoters, &row.Detractors, &row.Satisfied, &row.ScoreSum); err != nil {
			return err
		}
		out = append(out, row)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: satisfaction: %w", err)
	}
	return out, nil
}
