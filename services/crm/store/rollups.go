package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
)

// The revenue report reads monthly roll-ups (revenue_rollups, activity_rollups) instead
// of every active user. Each write that changes a user's part of them (a new activity
// month, order or refund, a change of RFM tier, segment membership or predicted CLV)
// runs through Tx.rollup: in its transaction, with the user's customer row locked, it
// computes the user's part before and after the write from the user's own rows, and
// the differences are added when the transaction commits (Tx.flushRollups), in key
// order, so that concurrent transactions cannot deadlock on roll-up rows. A redelivered event writes nothing and so changes nothing; a change
// of group (a new tier) moves the user's whole history to the new group, as the report
// groups by the current tier, segments and cohort.

// revenueDims are the dimensions the roll-ups are kept for.
var revenueDims = []string{RevenueByMonth, RevenueBySegment, RevenueByRFMTier, RevenueByCohort}

type revKey struct {
	dim, key string
	month    int
	currency string
}

type revVals struct {
	gmv, paying, returning, clvSum, clvCount, refunds, refundCount int64
}

func (v revVals) add(o revVals) revVals {
	return revVals{v.gmv + o.gmv, v.paying + o.paying, v.returning + o.returning, v.clvSum + o.clvSum,
		v.clvCount + o.clvCount, v.refunds + o.refunds, v.refundCount + o.refundCount}
}

func (v revVals) sub(o revVals) revVals {
	return revVals{v.gmv - o.gmv, v.paying - o.paying, v.returning - o.returning, v.clvSum - o.clvSum,
		v.clvCount - o.clvCount, v.refunds - o.refunds, v.refundCount - o.refundCount}
}

type actKey struct {
	dim, key string
	month    int
}

type actVals struct{ active, retained int64 }

// contribution is one user's part of the roll-ups.
type contribution struct {
	rev map[revKey]revVals
	act map[actKey]actVals
}

// userRows is the query contribution reads a user's rows with, in one round trip:
// each row is a kind (t tier, s segment, a activity month, p predicted CLV, o orders
// of a month and currency, r refunds of a month and currency), a month, a text (tier,
// segment or currency) and two numbers.
const userRows = `
	SELECT 't', 0, rfm_tier, 0, 0 FROM customers WHERE user_id = $1
	UNION ALL SELECT 's', 0, segment_id, 0, 0 FROM segment_members WHERE user_id = $1 AND member
	UNION ALL SELECT 'a', month, '', 0, 0 FROM activity_months WHERE user_id = $1
	UNION ALL SELECT 'p', 0, '', clv_minor, 0 FROM predictions WHERE user_id = $1
	UNION ALL SELECT 'o', month, currency, CAST(SUM(revenue_minor) AS BIGINT), 0 FROM orders WHERE user_id = $1 GROUP BY month, currency
	UNION ALL SELECT 'r', month, currency, CAST(SUM(amount_minor) AS BIGINT), COUNT(*) FROM refunds WHERE user_id = $1 GROUP BY month, currency`

// contribution computes userID's part of the roll-ups from the user's rows.
func (t *Tx) contribution(ctx context.Context, userID string) (contribution, error) {
	c := contribution{rev: map[revKey]revVals{}, act: map[actKey]actVals{}}
	type mc struct {
		month    int
		currency string
	}
	var (
		tier              string
		segments          []string
		active            = map[int]bool{}
		cohort, firstPaid int
		clv               *int64
		orders            = map[mc]int64{}
		refunds           = map[mc][2]int64{}
	)
	err := each(ctx, t.tx, userRows, []any{userID}, func(r *sql.Rows) error {
		var kind, text string
		var m int
		var x, y int64
		if err := r.Scan(&kind, &m, &text, &x, &y); err != nil {
			return err
		}
		switch kind {
		case "t":
			tier = text
		case "s":
			segments = append(segments, text)
		case "a":
			active[m] = true
			if cohort == 0 || m < cohort {
				cohort = m
			}
		case "p":
			clv = &x
		case "o":
			orders[mc{m, text}] = x
			if firstPaid == 0 || m < firstPaid {
				firstPaid = m
			}
		case "r":
			refunds[mc{m, text}] = [2]int64{x, y}
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("store: rollup rows: %w", err)
	}
	keys := func(dim string) []string {
		switch dim {
		case RevenueBySegment:
			return segments
		case RevenueByRFMTier:
			return []string{tier}
		case RevenueByCohort:
			if cohort == 0 {
				return nil // the report groups by cohort users with an active month only
			}
			return []string{strconv.Itoa(cohort)}
		}
		return []string{""}
	}
	for _, dim := range revenueDims {
		for _, key := range keys(dim) {
			for m := range active {
				v := actVals{active: 1}
				if active[PrevMonth(m)] {
					v.retained = 1
				}
				c.act[actKey{dim, key, m}] = v
			}
			for k, gmv := range orders {
				v := revVals{gmv: gmv, paying: 1}
				if firstPaid < k.month {
					v.returning = 1
				}
				if clv != nil {
					v.clvSum, v.clvCount = *clv, 1
				}
				c.rev[revKey{dim, key, k.month, k.currency}] = v
			}
			for k, r := range refunds {
				rk := revKey{dim, key, k.month, k.currency}
				v := c.rev[rk]
				v.refunds, v.refundCount = r[0], r[1]
				c.rev[rk] = v
			}
		}
	}
	return c, nil
}

// rollup runs write, a change of userID's rows, and records the change of the user's
// part of the roll-ups, added at the end of the transaction (flushRollups). write
// reports whether it changed anything (false: a duplicate, nothing to record).
func (t *Tx) rollup(ctx context.Context, userID string, write func() (bool, error)) (bool, error) {
	if err := t.ensureCustomer(ctx, userID); err != nil {
		return false, err
	}
	// Writes of one user from different topics (an order, a prediction) may run
	// concurrently; the lock makes each see the other's rows, so no change is lost.
	if err := t.d.lockUser(ctx, t, userID); err != nil {
		return false, err
	}
	before, err := t.contribution(ctx, userID)
	if err != nil {
		return false, err
	}
	changed, err := write()
	if err != nil || !changed {
		return changed, err
	}
	after, err := t.contribution(ctx, userID)
	if err != nil {
		return false, err
	}
	if t.rollups.act == nil {
		t.rollups = contribution{rev: map[revKey]revVals{}, act: map[actKey]actVals{}}
	}
	for k, v := range after.act {
		a := t.rollups.act[k]
		t.rollups.act[k] = actVals{a.active + v.active, a.retained + v.retained}
	}
	for k, v := range before.act {
		a := t.rollups.act[k]
		t.rollups.act[k] = actVals{a.active - v.active, a.retained - v.retained}
	}
	for k, v := range after.rev {
		t.rollups.rev[k] = t.rollups.rev[k].add(v)
	}
	for k, v := range before.rev {
		t.rollups.rev[k] = t.rollups.rev[k].sub(v)
	}
	return true, nil
}

// flushRollups adds the transaction's change of the roll-ups, at its end and in key
// order: concurrent transactions lock roll-up rows in one order, after any other row,
// so they cannot deadlock on them.
func (t *Tx) flushRollups(ctx context.Context) error {
	acts, revs := t.rollups.act, t.rollups.rev
	t.rollups = contribution{}
	actKeys := make([]actKey, 0, len(acts))
	for k, v := range acts {
		if v != (actVals{}) {
			actKeys = append(actKeys, k)
		}
	}
	slices.SortFunc(actKeys, func(a, b actKey) int {
		return cmp.Or(cmp.Compare(a.dim, b.dim), cmp.Compare(a.month, b.month), cmp.Compare(a.key, b.key))
	})
	if err := upsertRows(ctx, t.tx, `INSERT INTO activity_rollups (dim, gkey, month, active, retained) VALUES `,
		`ON CONFLICT (dim, month, gkey) DO UPDATE SET active = activity_rollups.active + excluded.active,
			retained = activity_rollups.retained + excluded.retained`, len(actKeys), func(i int) []any {
			k := actKeys[i]
			v := acts[k]
			return []any{k.dim, k.key, k.month, v.active, v.retained}
		}); err != nil {
		return fmt.Errorf("store: activity rollup: %w", err)
	}
	revKeys := make([]revKey, 0, len(revs))
	for k, v := range revs {
		if v != (revVals{}) {
			revKeys = append(revKeys, k)
		}
	}
	slices.SortFunc(revKeys, func(a, b revKey) int {
		return cmp.Or(cmp.Compare(a.dim, b.dim), cmp.Compare(a.month, b.month), cmp.Compare(a.key, b.key), cmp.Compare(a.currency, b.currency))
	})
	if err := upsertRows(ctx, t.tx, `INSERT INTO revenue_rollups (dim, gkey, month, currency, gmv_minor, paying, returned, clv_sum_minor, clv_count, refunds_minor, refund_count) VALUES `,
		`ON CONFLICT (dim, month, gkey, currency) DO UPDATE SET gmv_minor = revenue_rollups.gmv_minor + excluded.gmv_minor,
			paying = revenue_rollups.paying + excluded.paying, returned = revenue_rollups.returned + excluded.returned,
			clv_sum_minor = revenue_rollups.clv_sum_minor + excluded.clv_sum_minor, clv_count = revenue_rollups.clv_count + excluded.clv_count,
			refunds_minor = revenue_rollups.refunds_minor + excluded.refunds_minor, refund_count = revenue_rollups.refund_count + excluded.refund_count`,
		len(revKeys), func(i int) []any {
			k := revKeys[i]
			v := revs[k]
			return []any{k.dim, k.key, k.month, k.currency, v.gmv, v.paying, v.returning, v.clvSum, v.clvCount, v.refunds, v.refundCount}
		}); err != nil {
		return fmt.Errorf("store: revenue rollup: %w", err)
	}
	return nil
}

// upsertRows runs insert (ending in VALUES) with n rows of values in batches, each
// followed by onConflict.
func upsertRows(ctx context.Context, tx *sql.Tx, insert, onConflict string, n int, values func(i int) []any) error {
	const batch = 100
	for from := 0; from < n; from += batch {
		var b strings.Builder
		b.WriteString(insert)
		var args []any
		for i := from; i < min(from+batch, n); i++ {
			if i > from {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j, v := range values(i) {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&b, "$%d", len(args))
			}
			b.WriteString(")")
		}
		b.WriteString(" " + onConflict)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// fillRollups computes the roll-ups of every dimension from the stored rows, into empty
// roll-up tables (migration 7; RebuildRollups).
func fillRollups(ctx context.Context, tx *sql.Tx) error {
	for _, dim := range revenueDims {
		lit := "'" + dim + "'" // one of the constants above, never input
		for _, p := range []struct{ alias, query string }{
			{"u", `INSERT INTO revenue_rollups (dim, gkey, month, currency, gmv_minor, paying, returned, clv_sum_minor, clv_count)
				SELECT ` + lit + `, %[1]s, u.month, u.currency, SUM(u.gmv), COUNT(*), SUM(CASE WHEN f.first_month < u.month THEN 1 ELSE 0 END),
					COALESCE(SUM(p.clv_minor), 0), COUNT(p.clv_minor)
				FROM (SELECT user_id, month, currency, SUM(revenue_minor) AS gmv FROM orders GROUP BY user_id, month, currency) u
				JOIN (SELECT user_id, MIN(month) AS first_month FROM orders GROUP BY user_id) f ON f.user_id = u.user_id
				LEFT JOIN predictions p ON p.user_id = u.user_id %[2]s
				GROUP BY 2, 3, 4`},
			{"r", `INSERT INTO revenue_rollups (dim, gkey, month, currency, refunds_minor, refund_count)
				SELECT ` + lit + `, %[1]s, r.month, r.currency, SUM(r.amount_minor), COUNT(*) FROM refunds r %[2]s
				WHERE TRUE GROUP BY 2, 3, 4
				ON CONFLICT (dim, month, gkey, currency) DO UPDATE SET refunds_minor = revenue_rollups.refunds_minor + excluded.refunds_minor,
					refund_count = revenue_rollups.refund_count + excluded.refund_count`},
			{"a", `INSERT INTO activity_rollups (dim, gkey, month, active, retained)
				SELECT ` + lit + `, %[1]s, a.month, COUNT(*), COUNT(b.user_id) FROM activity_months a
				LEFT JOIN activity_months b ON b.user_id = a.user_id AND b.month = CASE WHEN a.month %% 100 = 1 THEN a.month - 89 ELSE a.month - 1 END
				%[2]s
				GROUP BY 2, 3`},
		} {
			key, join, err := keyJoin(dim, p.alias)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(p.query, key, join)); err != nil {
				return fmt.Errorf("store: fill %s rollups: %w", dim, err)
			}
		}
	}
	return nil
}

// rollupMigration fills the roll-up tables of migration 6 from the rows stored before
// them (a new value per provider: goose links the migrations it is given).
func rollupMigration() *goose.Migration {
	return goose.NewGoMigration(7,
		&goose.GoFunc{RunTx: fillRollups},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, table := range []string{"revenue_rollups", "activity_rollups"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
					return fmt.Errorf("store: empty %s: %w", table, err)
				}
			}
			return nil
		}})
}
