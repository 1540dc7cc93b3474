package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stratahq/strata/services/crm/store"
)

// testRevenueRollups writes a random history (activity out of order, orders and refunds
// in two currencies, tier and segment changes, predictions, redelivered events, an
// erasure, concurrent writers) and checks that the report read from the roll-ups kept at write time equals
// the report computed from the rows (RevenueReference), for every dimension, and that
// the roll-ups filled from the rows (migration 7) equal those kept at write time.
func testRevenueRollups(ctx context.Context, t *testing.T, s *store.Store) {
	rng := rand.New(rand.NewPCG(11, 12))
	start := time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func() time.Time { return start.Add(time.Duration(rng.IntN(150*24)) * time.Hour) }
	user := func() string { return fmt.Sprintf("rr-u%02d", rng.IntN(40)) }
	tiers := []string{"", "Champions", "At Risk", "Lost"}
	currencies := []string{"CNY", "CNY", "CNY", "USD"}
	var orders []store.Order
	for i := range 600 {
		pos := store.Position{Topic: "t.rollups", Offset: int64(i)}
		u := user()
		apply(ctx, t, s, pos, func(ctx context.Context, tx *store.Tx) error {
			switch k := rng.IntN(10); {
			case k < 4:
				return tx.TouchCustomer(ctx, u, at())
			case k < 6:
				o := store.Order{OrderID: fmt.Sprintf("rr-o%d", i), UserID: u, EventID: fmt.Sprintf("rr-e%d", i), At: at(),
					RevenueMinor: int64(rng.IntN(5000)), Currency: currencies[rng.IntN(len(currencies))]}
				if rng.IntN(5) == 0 && len(orders) > 0 {
					o = orders[rng.IntN(len(orders))] // redelivered
				}
				if err := tx.TouchCustomer(ctx, o.UserID, o.At); err != nil {
					return err
				}
				if _, err := tx.AddOrder(ctx, o); err != nil {
					return err
				}
				orders = append(orders, o)
				return nil
			case k < 7:
				if len(orders) == 0 {
					return nil
				}
				o := orders[rng.IntN(len(orders))]
				id := fmt.Sprintf("rr-rf%d", rng.IntN(i+1)) // sometimes a redelivery
				return tx.AddRefund(ctx, store.Refund{EventID: id, OrderID: o.OrderID, UserID: o.UserID, At: o.At.Add(48 * time.Hour),
					AmountMinor: int64(rng.IntN(1000)), Currency: o.Currency})
			case k < 8:
				return tx.PutProfile(ctx, store.ProfileSnapshot{UserID: u, Version: int64(rng.IntN(50)), RFMTier: tiers[rng.IntN(len(tiers))],
					UpdatedAt: at()})
			case k < 9:
				return tx.PutPrediction(ctx, store.Prediction{UserID: u, CLVMinor: int64(rng.IntN(100000)), Currency: "CNY",
					ScoredAt: start.Add(time.Duration(i) * time.Minute)})
			default:
				return tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: u, SegmentID: fmt.Sprintf("rr-s%d", rng.IntN(3)),
					Enter: rng.IntN(3) > 0, ProfileVersion: int64(i), At: at()})
			}
		})
	}
	apply(ctx, t, s, store.Position{Topic: "t.rollups.erase"}, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.EraseUser(ctx, "rr-erase", "rr-u07", "rr-pseudonym", start)
		return err
	})

	// Writes of the same users from several consumers at once (the topics are consumed
	// concurrently): orders, predictions, tiers and segments of five users.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for j := range 40 {
				u := fmt.Sprintf("rr-c%d", rng.IntN(5))
				k := rng.IntN(4)
				_, err := s.Apply(ctx, store.Position{Topic: fmt.Sprintf("t.rollups.%d", w), Offset: int64(j)}, func(ctx context.Context, tx *store.Tx) error {
					switch k {
					case 0:
						at := start.Add(time.Duration(rng.IntN(90*24)) * time.Hour)
						if err := tx.TouchCustomer(ctx, u, at); err != nil {
							return err
						}
						_, err := tx.AddOrder(ctx, store.Order{OrderID: fmt.Sprintf("rr-c%d-%d", w, j), UserID: u, EventID: fmt.Sprintf("rr-ce%d-%d", w, j),
							At: at, RevenueMinor: 100, Currency: "CNY"})
						return err
					case 1:
						return tx.PutPrediction(ctx, store.Prediction{UserID: u, CLVMinor: int64(rng.IntN(1000)), Currency: "CNY", ScoredAt: start.Add(time.Duration(w*100+j) * time.Minute)})
					case 2:
						return tx.PutProfile(ctx, store.ProfileSnapshot{UserID: u, Version: int64(j), RFMTier: tiers[rng.IntN(len(tiers))], UpdatedAt: start})
					default:
						return tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: u, SegmentID: "rr-s0", Enter: rng.IntN(2) == 0, ProfileVersion: int64(w*100 + j), At: start})
					}
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent writes: %v", err)
	}

	compare := func(t *testing.T, what string) {
		t.Helper()
		rows := 0
		for _, dim := range []string{store.RevenueByMonth, store.RevenueBySegment, store.RevenueByRFMTier, store.RevenueByCohort} {
			for _, cur := range []string{"CNY", "USD", "EUR"} {
				for _, r := range [][2]int{{203301, 203305}, {203302, 203303}, {203212, 203301}, {203201, 203212}} {
					q := store.RevenueQuery{Dimension: dim, From: r[0], To: r[1], Currency: cur}
					got, err := s.Revenue(ctx, q)
					if err != nil {
						t.Fatalf("Revenue(%+v): %v", q, err)
					}
					want, err := s.RevenueReference(ctx, q)
					if err != nil {
						t.Fatalf("RevenueReference(%+v): %v", q, err)
					}
					rows += len(want)
					if !equalRevenue(got, want) {
						t.Errorf("%s, %+v:\n got %+v\nwant %+v", what, q, got, want)
					}
				}
			}
		}
		if rows < 100 {
			t.Fatalf("%s: %d report rows compared, want at least 100 (the history generates fewer figures than it should)", what, rows)
		}
	}
	compare(t, "kept at write time")
	if err := s.RebuildRollups(ctx); err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	compare(t, "filled from the rows")
}

// equalRevenue compares reports; the mean CLV to 1e-9 relative (PostgreSQL averages
// in numeric, the roll-ups divide in float64).
func equalRevenue(a, b []store.RevenueRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if math.Abs(x.AvgCLVMinor-y.AvgCLVMinor) > 1e-9*math.Max(1, math.Abs(y.AvgCLVMinor)) {
			return false
		}
		x.AvgCLVMinor, y.AvgCLVMinor = 0, 0
		if x != y {
			return false
		}
	}
	return true
}
