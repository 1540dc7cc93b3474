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

// Revenue dimensions.
const (
	RevenueByMonth   = "month"
	RevenueBySegment = "segment"
	RevenueByRFMTier = "rfm_tier"
	RevenueByCohort  = "cohort"
)

// NextMonth returns the month after m (YYYYMM).
func NextMonth(m int) int {
	if m%100 == 12 {
		return m + 89
	}
	return m + 1
}

// PrevMonth returns the month before m (YYYYMM).
func PrevMonth(m int) int {
	if m%100 == 1 {
		return m - 89
	}
	return m - 1
}

// RevenueQuery asks for revenue figures per group and month, for the months From to To
// (YYYYMM, inclusive), in one currency.
type RevenueQuery struct {
	Dimension string
	From, To  int
	Currency  string
}

// RevenueRow holds one group's raw figures for one month. Key is "" by month, else the
// segment id, RFM tier, or acquisition cohort (YYYYMM of the first active month).
type RevenueRow struct {
	Key   string
	Month int
	// GMVMinor sums the orders; RefundsMinor the refunds made in the month.
	GMVMinor, RefundsMinor int64
	// Active users had an event in the month; Paying users an order; Returning paying
	// users had an order in an earlier month too.
	Active, Paying, Returning int64
	// PrevActive users were active the month before; Churned of them are not active in
	// this one.
	PrevActive, Churned int64
	// AvgCLVMinor is the mean predicted CLV of the paying users with a prediction.
	AvgCLVMinor float64
}

// keyJoin returns the group key expression and the join that gives it, for a table
// aliased alias with a user_id column.
func keyJoin(dim, alias string) (string, string, error) {
	switch dim {
	case RevenueByMonth, "":
		return `''`, ``, nil
	case RevenueBySegment:
		return `g.segment_id`, `JOIN segment_members g ON g.user_id = ` + alias + `.user_id AND g.member`, nil
	case RevenueByRFMTier:
		return `COALESCE(g.rfm_tier, '')`, `LEFT JOIN customers g ON g.user_id = ` + alias + `.user_id`, nil
	case RevenueByCohort:
		return `CAST(g.cohort AS TEXT)`, `JOIN (SELECT user_id, MIN(month) AS cohort FROM activity_months GROUP BY user_id) g ON g.user_id = ` + alias + `.user_id`, nil
	}
	return "", "", fmt.Errorf("store: unknown revenue dimension %q", dim)
}

// Revenue returns the raw revenue figures per group and month, ordered by key and
// month; groups and months without any figure are left out. It reads the monthly
// roll-ups (rollups.go): a few rows per group and month.
func (s *Store) Revenue(ctx context.Context, q RevenueQuery) ([]RevenueRow, error) {
	dim := q.Dimension
	if dim == "" {
		dim = RevenueByMonth
	}
	if !slices.Contains(revenueDims, dim) {
		return nil, fmt.Errorf("store: unknown revenue dimension %q", q.Dimension)
	}
	rows := revenueRows{}
	row := rows.row
	inRange := func(m int) bool { return m >= q.From && m <= q.To }
	err := each(ctx, s.db, `SELECT gkey, month, gmv_minor, paying, returned, clv_sum_minor, clv_count, refunds_minor, refund_count
		FROM revenue_rollups WHERE dim = $1 AND month >= $2 AND month <= $3 AND currency = $4 AND (paying > 0 OR refund_count > 0)`,
		[]any{dim, q.From, q.To, q.Currency}, func(r *sql.Rows) error {
			var k string
			var m int
			var v revVals
			if err := r.Scan(&k, &m, &v.gmv, &v.paying, &v.returning, &v.clvSum, &v.clvCount, &v.refunds, &v.refundCount); err != nil {
				return err
			}
			x := row(k, m)
			if v.paying > 0 {
				x.GMVMinor, x.Paying, x.Returning = v.gmv, v.paying, v.returning
				if v.clvCount > 0 {
					x.AvgCLVMinor = float64(v.clvSum) / float64(v.clvCount)
				}
			}
			if v.refundCount > 0 {
				x.RefundsMinor = v.refunds
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: revenue: %w", err)
	}
	// Activity from the month before From: the active users of month m are the
	// previously active of m+1, and those not retained in m+1 churned.
	type act struct{ active, retained int64 }
	acts := map[groupMonth]act{}
	err = each(ctx, s.db, `SELECT gkey, month, active, retained FROM activity_rollups
		WHERE dim = $1 AND month >= $2 AND month <= $3 AND active > 0`, []any{dim, PrevMonth(q.From), q.To}, func(r *sql.Rows) error {
		var k string
		var m int
		var a act
		if err := r.Scan(&k, &m, &a.active, &a.retained); err != nil {
			return err
		}
		acts[groupMonth{k, m}] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: revenue activity: %w", err)
	}
	for g, a := range acts {
		if inRange(g.m) {
			row(g.k, g.m).Active = a.active
		}
		if n := NextMonth(g.m); inRange(n) {
			x := row(g.k, n)
			x.PrevActive = a.active
			x.Churned = a.active - acts[groupMonth{g.k, n}].retained
		}
	}
	return rows.sorted(), nil
}

// groupMonth identifies a report row.
type groupMonth struct {
	k string
	m int
}

// revenueRows collects a report's rows.
type revenueRows map[groupMonth]*RevenueRow

// row returns the row of group k and month m, adding it if needed.
func (rs revenueRows) row(k string, m int) *RevenueRow {
	r := rs[groupMonth{k, m}]
	if r == nil {
		r = &RevenueRow{Key: k, Month: m}
		rs[groupMonth{k, m}] = r
	}
	return r
}

// sorted returns the rows ordered by key and month.
func (rs revenueRows) sorted() []RevenueRow {
	out := make([]RevenueRow, 0, len(rs))
	for _, r := range rs {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RevenueRow) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return a.Month - b.Month
	})
	return out
}

// RevenueShareRule says how a creator's sales are split (creator "" for the default
// rule), from EffectiveMonth on. Shares and the fee are basis points: the fee comes off
// the sale first, the creator gets OwnShareBps of the rest for sales they drove (their
// coupon or link) and PlatformShareBps for the others; refunds within ClawbackDays of
// the sale take the creator's part back.
type RevenueShareRule struct {
	RuleID           string
	CreatorID        string
	EffectiveMonth   int
	OwnShareBps      int
	PlatformShareBps int
	PlatformFeeBps   int
	ClawbackDays     int
	// Coupons are the creator's coupons (not set on the default rule).
	Coupons   []string
	UpdatedAt time.Time
}

// PutRevenueShareRule stores a rule (replacing the one with its id) and registers its
// coupons for its creator. ErrExists when another rule has the same creator and month,
// or a coupon belongs to another creator.
func (s *Store) PutRevenueShareRule(ctx context.Context, r RevenueShareRule) error {
	return s.inTx(ctx, func(t *Tx) error {
		var other string
		err := t.tx.QueryRowContext(ctx, `SELECT rule_id FROM revenue_share_rules WHERE creator_id = $1 AND effective_month = $2`,
			r.CreatorID, r.EffectiveMonth).Scan(&other)
		switch {
		case err == nil && other != r.RuleID:
			return fmt.Errorf("rule %q has the same creator and month: %w", other, ErrExists)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: revenue share rule: %w", err)
		}
		if _, err := t.tx.ExecContext(ctx, `
			INSERT INTO revenue_share_rules (rule_id, creator_id, effective_month, own_share_bps, platform_share_bps, platform_fee_bps, clawback_days, updated_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (rule_id) DO UPDATE SET creator_id = excluded.creator_id, effective_month = excluded.effective_month,
				own_share_bps = excluded.own_share_bps, platform_share_bps = excluded.platform_share_bps,
				platform_fee_bps = excluded.platform_fee_bps, clawback_days = excluded.clawback_days, updated_us = excluded.updated_us`,
			r.RuleID, r.CreatorID, r.EffectiveMonth, r.OwnShareBps, r.PlatformShareBps, r.PlatformFeeBps, r.ClawbackDays, micros(r.UpdatedAt)); err != nil {
			return fmt.Errorf("store: put revenue share rule: %w", err)
		}
		for _, c := range r.Coupons {
			res, err := t.tx.ExecContext(ctx, `INSERT INTO creator_coupons (coupon, creator_id) VALUES ($1, $2)
				ON CONFLICT (coupon) DO UPDATE SET creator_id = excluded.creator_id WHERE creator_coupons.creator_id = excluded.creator_id`, c, r.CreatorID)
			if err != nil {
				return fmt.Errorf("store: creator coupon: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("coupon %q belongs to another creator: %w", c, ErrExists)
			}
		}
		return nil
	})
}

// RevenueShareRules returns the rules of a creator and the default ones ("" for all
// rules), ordered by creator and month, each with its creator's coupons.
func (s *Store) RevenueShareRules(ctx context.Context, creatorID string) ([]RevenueShareRule, error) {
	q, args := `SELECT rule_id, creator_id, effective_month, own_share_bps, platform_share_bps, platform_fee_bps, clawback_days, updated_us
		FROM revenue_share_rules`, []any{}
	if creatorID != "" {
		q += ` WHERE creator_id = $1 OR creator_id = ''`
		args = append(args, creatorID)
	}
	q += ` ORDER BY creator_id, effective_month`
	var out []RevenueShareRule
	err := each(ctx, s.db, q, args, func(r *sql.Rows) error {
		var x RevenueShareRule
		var at int64
		if err := r.Scan(&x.RuleID, &x.CreatorID, &x.EffectiveMonth, &x.OwnShareBps, &x.PlatformShareBps, &x.PlatformFeeBps, &x.ClawbackDays, &at); err != nil {
			return err
		}
		x.UpdatedAt = fromMicros(at)
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: revenue share rules: %w", err)
	}
	coupons := map[string][]string{}
	err = each(ctx, s.db, `SELECT coupon, creator_id FROM creator_coupons ORDER BY coupon`, nil, func(r *sql.Rows) error {
		var c, cr string
		if err := r.Scan(&c, &cr); err != nil {
			return err
		}
		coupons[cr] = append(coupons[cr], c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: creator coupons: %w", err)
	}
	for i := range out {
		if out[i].CreatorID != "" {
			out[i].Coupons = coupons[out[i].CreatorID]
		}
	}
	return out, nil
}

// SettlementOrder is an order with, per item, the item's creator.
type SettlementOrder struct {
	Order
	// Creators are the creators of Items, by index ("" when unknown).
	Creators []string
}

// SettlementRefund is a refund of an order settled for a creator.
type SettlementRefund struct {
	Refund
	Order SettlementOrder
}

// CreatorActivity is what a creator's monthly statement is built from: the orders of
// the month with an item of the creator, the refunds made in the month of orders with
// an item of the creator (whenever sold), and the creator's coupons.
type CreatorActivity struct {
	Sales   []SettlementOrder
	Refunds []SettlementRefund
	Coupons map[string]bool
}

// CreatorActivity returns a creator's activity in a month (YYYYMM) in one currency.
func (s *Store) CreatorActivity(ctx context.Context, creatorID string, month int, currency string) (CreatorActivity, error) {
	act := CreatorActivity{Coupons: map[string]bool{}}
	ids := map[string]bool{}
	var saleIDs []string
	const creatorItem = `EXISTS (SELECT 1 FROM order_items i JOIN catalog_items c ON c.item_id = i.item_id WHERE i.order_id = %s AND c.creator_id = $1)`
	err := each(ctx, s.db, `SELECT o.order_id FROM orders o WHERE o.month = $2 AND o.currency = $3 AND `+fmt.Sprintf(creatorItem, "o.order_id")+
		` ORDER BY o.at_us, o.order_id`, []any{creatorID, month, currency}, func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		saleIDs = append(saleIDs, id)
		ids[id] = true
		return nil
	})
	if err != nil {
		return CreatorActivity{}, fmt.Errorf("store: creator sales: %w", err)
	}
	err = each(ctx, s.db, `SELECT r.event_id, r.order_id, r.user_id, r.at_us, r.amount_minor, r.currency FROM refunds r
		WHERE r.month = $2 AND r.currency = $3 AND `+fmt.Sprintf(creatorItem, "r.order_id")+` ORDER BY r.at_us, r.event_id`,
		[]any{creatorID, month, currency}, func(r *sql.Rows) error {
			var x SettlementRefund
			var at int64
			if err := r.Scan(&x.EventID, &x.OrderID, &x.UserID, &at, &x.AmountMinor, &x.Currency); err != nil {
				return err
			}
			x.At = fromMicros(at)
			act.Refunds = append(act.Refunds, x)
			ids[x.OrderID] = true
			return nil
		})
	if err != nil {
		return CreatorActivity{}, fmt.Errorf("store: creator refunds: %w", err)
	}
	orders, err := s.settlementOrders(ctx, ids)
	if err != nil {
		return CreatorActivity{}, err
	}
	for _, id := range saleIDs {
		act.Sales = append(act.Sales, orders[id])
	}
	for i := range act.Refunds {
		act.Refunds[i].Order = orders[act.Refunds[i].OrderID]
	}
	err = each(ctx, s.db, `SELECT coupon FROM creator_coupons WHERE creator_id = $1`, []any{creatorID}, func(r *sql.Rows) error {
		var c string
		if err := r.Scan(&c); err != nil {
			return err
		}
		act.Coupons[c] = true
		return nil
	})
	if err != nil {
		return CreatorActivity{}, fmt.Errorf("store: creator coupons: %w", err)
	}
	return act, nil
}

func (s *Store) settlementOrders(ctx context.Context, ids map[string]bool) (map[string]SettlementOrder, error) {
	out := map[string]SettlementOrder{}
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	const chunk = 500
	for len(list) > 0 {
		n := min(chunk, len(list))
		args := make([]any, n)
		ph := make([]string, n)
		for i, id := range list[:n] {
			args[i], ph[i] = id, fmt.Sprintf("$%d", i+1)
		}
		in := strings.Join(ph, ", ")
		err := each(ctx, s.db, `SELECT order_id, user_id, event_id, at_us, revenue_minor, discount_minor, currency, coupon, referrer, refunded_minor
			FROM orders WHERE order_id IN (`+in+`)`, args, func(r *sql.Rows) error {
			var o SettlementOrder
			var at int64
			if err := r.Scan(&o.OrderID, &o.UserID, &o.EventID, &at, &o.RevenueMinor, &o.DiscountMinor, &o.Currency, &o.Coupon, &o.Referrer, &o.RefundedMinor); err != nil {
				return err
			}
			o.At = fromMicros(at)
			out[o.OrderID] = o
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: settlement orders: %w", err)
		}
		err = each(ctx, s.db, `SELECT i.order_id, i.item_id, i.quantity, i.price_minor, i.category, COALESCE(c.creator_id, '')
			FROM order_items i LEFT JOIN catalog_items c ON c.item_id = i.item_id WHERE i.order_id IN (`+in+`) ORDER BY i.order_id, i.line`,
			args, func(r *sql.Rows) error {
				var id, creator string
				var it OrderItem
				if err := r.Scan(&id, &it.ItemID, &it.Quantity, &it.PriceMinor, &it.Category, &creator); err != nil {
					return err
				}
				o := out[id]
				o.Items = append(o.Items, it)
				o.Creators = append(o.Creators, creator)
				out[id] = o
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("store: settlement items: %w", err)
		}
		list = list[n:]
	}
	return out, nil
}
