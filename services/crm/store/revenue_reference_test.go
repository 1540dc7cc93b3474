package store

import (
	"context"
	"database/sql"
	"fmt"
)

// RevenueReference is the revenue report computed from the stored rows, without the
// roll-ups: the definition Revenue must match (tests only).
func (s *Store) RevenueReference(ctx context.Context, q RevenueQuery) ([]RevenueRow, error) {
	rows := revenueRows{}
	row := rows.row
	inRange := func(m int) bool { return m >= q.From && m <= q.To }
	parts := []struct {
		alias, query string
		args         []any
		apply        func(k string, m int, vs []int64, f float64)
	}{
		{"o", `SELECT %[1]s, o.month, CAST(SUM(o.revenue_minor) AS BIGINT), COUNT(DISTINCT o.user_id), 0 FROM orders o %[2]s
			WHERE o.month >= $1 AND o.month <= $2 AND o.currency = $3 GROUP BY 1, 2`, []any{q.From, q.To, q.Currency},
			func(k string, m int, vs []int64, _ float64) { r := row(k, m); r.GMVMinor, r.Paying = vs[0], vs[1] }},
		{"r", `SELECT %[1]s, r.month, CAST(SUM(r.amount_minor) AS BIGINT), 0, 0 FROM refunds r %[2]s
			WHERE r.month >= $1 AND r.month <= $2 AND r.currency = $3 GROUP BY 1, 2`, []any{q.From, q.To, q.Currency},
			func(k string, m int, vs []int64, _ float64) { row(k, m).RefundsMinor = vs[0] }},
		{"a", `SELECT %[1]s, a.month, COUNT(*), 0, 0 FROM activity_months a %[2]s
			WHERE a.month >= $1 AND a.month <= $2 GROUP BY 1, 2`, []any{PrevMonth(q.From), q.To},
			func(k string, m int, vs []int64, _ float64) {
				if inRange(m) {
					row(k, m).Active = vs[0]
				}
				if n := NextMonth(m); inRange(n) {
					row(k, n).PrevActive = vs[0]
				}
			}},
		{"a", `SELECT %[1]s, a.month, COUNT(*), 0, 0 FROM activity_months a %[2]s
			WHERE a.month >= $1 AND a.month <= $2 AND NOT EXISTS (SELECT 1 FROM activity_months b WHERE b.user_id = a.user_id
				AND b.month = CASE WHEN a.month %% 100 = 12 THEN a.month + 89 ELSE a.month + 1 END)
			GROUP BY 1, 2`, []any{PrevMonth(q.From), PrevMonth(q.To)},
			func(k string, m int, vs []int64, _ float64) { row(k, NextMonth(m)).Churned = vs[0] }},
		{"o", `SELECT %[1]s, o.month, COUNT(DISTINCT o.user_id), 0, 0 FROM orders o %[2]s
			WHERE o.month >= $1 AND o.month <= $2 AND o.currency = $3
				AND EXISTS (SELECT 1 FROM orders p WHERE p.user_id = o.user_id AND p.month < o.month)
			GROUP BY 1, 2`, []any{q.From, q.To, q.Currency},
			func(k string, m int, vs []int64, _ float64) { row(k, m).Returning = vs[0] }},
		{"x", `SELECT %[1]s, x.month, 0, 0, CAST(AVG(p.clv_minor) AS DOUBLE PRECISION)
			FROM (SELECT DISTINCT user_id, month FROM orders WHERE month >= $1 AND month <= $2 AND currency = $3) x
			JOIN predictions p ON p.user_id = x.user_id %[2]s
			GROUP BY 1, 2`, []any{q.From, q.To, q.Currency},
			func(k string, m int, _ []int64, f float64) { row(k, m).AvgCLVMinor = f }},
	}
	for _, p := range parts {
		key, join, err := keyJoin(q.Dimension, p.alias)
		if err != nil {
			return nil, err
		}
		err = each(ctx, s.db, fmt.Sprintf(p.query, key, join), p.args, func(r *sql.Rows) error {
			var k string
			var m int
			vs := make([]int64, 2)
			var f float64
			if err := r.Scan(&k, &m, &vs[0], &vs[1], &f); err != nil {
				return err
			}
			p.apply(k, m, vs, f)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: revenue: %w", err)
		}
	}
	return rows.sorted(), nil
}
