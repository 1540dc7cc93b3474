package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ImportedCustomer is one customer of a bulk load: the state the consumers would build
// from the topics, taken from a snapshot instead (an initial load, a migration from
// another CRM).
type ImportedCustomer struct {
	UserID             string
	FirstSeen          time.Time
	RFMTier, Lifecycle string
	Orders             int64
	DiscountedOrders   int64
	Consent            map[string]bool
	// Prediction is nil when the customer has no scores.
	Prediction *Prediction
	Segments   []string
}

// ImportCustomers bulk-loads customers that do not exist yet, in one transaction (COPY
// on PostgreSQL). It fails, writing nothing, if any of them exists.
func (s *Store) ImportCustomers(ctx context.Context, cs []ImportedCustomer, at time.Time) error {
	us := micros(at)
	var customers, consents, predictions, members [][]any
	for _, c := range cs {
		customers = append(customers, []any{c.UserID, micros(c.FirstSeen), micros(c.FirstSeen), c.Orders, c.DiscountedOrders,
			c.RFMTier, c.Lifecycle, us})
		channels := make([]string, 0, len(c.Consent))
		for ch := range c.Consent {
			channels = append(channels, ch)
		}
		slices.Sort(channels)
		for _, ch := range channels {
			consents = append(consents, []any{c.UserID, ch, c.Consent[ch], us})
		}
		if p := c.Prediction; p != nil {
			predictions = append(predictions, []any{c.UserID, p.PurchasePropensity, p.ChurnRisk, p.CLVMinor, p.Currency, p.PAlive, micros(p.ScoredAt), p.Snapshot})
		}
		for _, seg := range c.Segments {
			members = append(members, []any{seg, c.UserID, true, int64(0), us})
		}
	}
	return s.inTx(ctx, func(t *Tx) error {
		for _, b := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"customers", []string{"user_id", "first_seen_us", "last_interaction_us", "orders", "discounted_orders", "rfm_tier", "lifecycle", "updated_us"}, customers},
			{"consents", []string{"user_id", "channel", "granted", "updated_us"}, consents},
			{"predictions", []string{"user_id", "purchase_propensity", "churn_risk", "clv_minor", "currency", "p_alive", "scored_us", "snapshot"}, predictions},
			{"segment_members", []string{"segment_id", "user_id", "member", "profile_version", "since_us"}, members},
		} {
			if err := t.d.insertRows(ctx, t, b.table, b.cols, b.rows); err != nil {
				return fmt.Errorf("store: import: %w", err)
			}
		}
		// Fresh statistics, so that the planner sees the loaded sizes at once rather
		// than after the next automatic analysis.
		for _, table := range []string{"customers", "consents", "predictions", "segment_members"} {
			if _, err := t.tx.ExecContext(ctx, `ANALYZE `+table); err != nil {
				return fmt.Errorf("store: import: analyze: %w", err)
			}
		}
		return nil
	})
}
