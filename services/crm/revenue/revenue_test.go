package revenue_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/revenue"
	"github.com/stratahq/strata/services/crm/store"
)

func TestAllocate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount  int64
		weights []int64
		want    []int64
	}{
		{100, []int64{1, 1, 1}, []int64{34, 33, 33}},
		{-100, []int64{1, 1, 1}, []int64{-34, -33, -33}},
		{1000, []int64{3000, 1000}, []int64{750, 250}},
		{7, []int64{0, 0}, []int64{4, 3}},
		{9950, []int64{9900, 100, 0}, []int64{9851, 99, 0}},
		{0, []int64{5, 5}, []int64{0, 0}},
		{10, nil, []int64{}},
	}
	for _, tt := range tests {
		got := revenue.Allocate(tt.amount, tt.weights)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Allocate(%d, %v): got %v, want %v", tt.amount, tt.weights, got, tt.want)
		}
		var sum int64
		for _, v := range got {
			sum += v
		}
		if len(tt.weights) > 0 && sum != tt.amount {
			t.Errorf("Allocate(%d, %v): parts add up to %d", tt.amount, tt.weights, sum)
		}
	}
}

func TestBps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount int64
		bps    int
		want   int64
	}{{10000, 7000, 7000}, {15, 5000, 8}, {-15, 5000, -8}, {14, 5000, 7}, {1, 4999, 0}, {0, 10000, 0}}
	for _, tt := range tests {
		if got := revenue.Bps(tt.amount, tt.bps); got != tt.want {
			t.Errorf("Bps(%d, %d): got %d, want %d", tt.amount, tt.bps, got, tt.want)
		}
	}
}

func TestMonths(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int
		ok   bool
	}{{"2026-11", 202611, true}, {"2026-1", 0, false}, {"2026-13", 0, false}, {"26-11", 0, false}, {"", 0, false}} {
		got, err := revenue.ParseMonth(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMonth(%q): got %d %v", tt.in, got, err)
		}
		if tt.ok && revenue.FormatMonth(got) != tt.in {
			t.Errorf("FormatMonth(%d): got %q", got, revenue.FormatMonth(got))
		}
	}
	if store.NextMonth(202612) != 202701 || store.PrevMonth(202701) != 202612 || store.NextMonth(202603) != 202604 {
		t.Errorf("month arithmetic is wrong")
	}
}

func TestRuleFor(t *testing.T) {
	t.Parallel()
	rules := []store.RevenueShareRule{
		{RuleID: "def-1", EffectiveMonth: 202601},
		{RuleID: "def-2", EffectiveMonth: 202607},
		{RuleID: "alice-1", CreatorID: "alice", EffectiveMonth: 202604},
		{RuleID: "bob-future", CreatorID: "bob", EffectiveMonth: 203001},
	}
	tests := []struct {
		creator string
		month   int
		want    string
	}{
		{"alice", 202603, "def-1"}, {"alice", 202604, "alice-1"}, {"alice", 202612, "alice-1"},
		{"bob", 202608, "def-2"}, {"carol", 202512, "builtin-default"},
	}
	for _, tt := range tests {
		if got := revenue.RuleFor(rules, tt.creator, tt.month).RuleID; got != tt.want {
			t.Errorf("RuleFor(%s, %d): got %s, want %s", tt.creator, tt.month, got, tt.want)
		}
	}
}

func TestStatement(t *testing.T) {
	t.Parallel()
	nov := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	rule := store.RevenueShareRule{RuleID: "r1", EffectiveMonth: 202601, OwnShareBps: 8000, PlatformShareBps: 5000, PlatformFeeBps: 1000, ClawbackDays: 14}
	order := func(id, coupon, referrer string, at time.Time, revenue int64, items ...store.OrderItem) store.SettlementOrder {
		o := store.SettlementOrder{Order: store.Order{OrderID: id, At: at, RevenueMinor: revenue, Coupon: coupon, Referrer: referrer, Items: items}}
		for _, it := range items {
			c := "other"
			if it.ItemID[0] == 'a' {
				c = "alice"
			}
			o.Creators = append(o.Creators, c)
		}
		return o
	}
	// o1: alice's course and another creator's, 30000 + 10000 list, 36000 paid (a
	// platform sale): alice's part is 27000.
	o1 := order("o1", "", "", nov, 36000, store.OrderItem{ItemID: "a-course", Quantity: 1, PriceMinor: 30000}, store.OrderItem{ItemID: "x-book", Quantity: 1, PriceMinor: 10000})
	// o2: with alice's coupon: her own sale.
	o2 := order("o2", "ALICE10", "", nov.Add(time.Hour), 9000, store.OrderItem{ItemID: "a-course", Quantity: 1, PriceMinor: 10000})
	// o3: through alice's link.
	o3 := order("o3", "", "alice", nov.Add(2*time.Hour), 5000, store.OrderItem{ItemID: "a-live", Quantity: 1, PriceMinor: 5000})
	// An October sale refunded in November: o4 within 14 days, o5 after.
	o4 := order("o4", "", "", nov.Add(-10*24*time.Hour), 20000, store.OrderItem{ItemID: "a-course", Quantity: 1, PriceMinor: 20000})
	o5 := order("o5", "", "", nov.Add(-40*24*time.Hour), 20000, store.OrderItem{ItemID: "a-course", Quantity: 1, PriceMinor: 20000})
	act := store.CreatorActivity{
		Sales: []store.SettlementOrder{o1, o2, o3},
		Refunds: []store.SettlementRefund{
			{Refund: store.Refund{OrderID: "o4", At: nov, AmountMinor: 20000}, Order: o4},
			{Refund: store.Refund{OrderID: "o5", At: nov, AmountMinor: 20000}, Order: o5},
			{Refund: store.Refund{OrderID: "o1", At: nov.Add(24 * time.Hour), AmountMinor: 18000}, Order: o1},
		},
		Coupons: map[string]bool{"ALICE10": true},
	}
	st := revenue.Statement("alice", 202611, "CNY", act, []store.RevenueShareRule{rule})
	type line struct {
		kind, order, channel string
		gross, fee, amount   int64
	}
	var got []line
	for _, l := range st.GetLines() {
		got = append(got, line{l.GetKind(), l.GetOrderId(), l.GetChannel(), l.GetGrossMinor(), l.GetFeeMinor(), l.GetCreatorAmountMinor()})
	}
	want := []line{
		// 27000 gross, 2700 fee, 50 % of 24300.
		{"sale", "o1", "platform", 27000, 2700, 12150},
		// 9000 gross, 900 fee, 80 % of 8100.
		{"sale", "o2", "own", 9000, 900, 6480},
		{"sale", "o3", "own", 5000, 500, 3600},
		// The whole of o4 refunded within 14 days: 50 % of 18000 back.
		{"clawback", "o4", "platform", -20000, -2000, -9000},
		// Half of o1 refunded: alice's part of it is 13500.
		{"clawback", "o1", "platform", -13500, -1350, -6075},
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines:\n got %+v\nwant %+v", got, want)
	}
	if st.GetGrossSalesMinor() != 41000 || st.GetPlatformFeesMinor() != 4100 || st.GetCreatorEarningsMinor() != 22230 ||
		st.GetClawbacksMinor() != 15075 || st.GetPayableMinor() != 7155 || st.GetMonth() != "2026-11" {
		t.Errorf("totals: got %v", st)
	}
}

type fakeStore struct {
	rows  []store.RevenueRow
	q     store.RevenueQuery
	rules []store.RevenueShareRule
	err   error
}

func (f *fakeStore) Revenue(_ context.Context, q store.RevenueQuery) ([]store.RevenueRow, error) {
	f.q = q
	return f.rows, nil
}
func (f *fakeStore) PutRevenueShareRule(_ context.Context, r store.RevenueShareRule) error {
	if f.err != nil {
		return f.err
	}
	f.rules = append(f.rules, r)
	return nil
}
func (f *fakeStore) RevenueShareRules(context.Context, string) ([]store.RevenueShareRule, error) {
	return f.rules, nil
}
func (f *fakeStore) CreatorActivity(context.Context, string, int, string) (store.CreatorActivity, error) {
	return store.CreatorActivity{}, nil
}

func TestReport(t *testing.T) {
	t.Parallel()
	f := &fakeStore{rows: []store.RevenueRow{{Key: "202609", Month: 202611, GMVMinor: 100000, RefundsMinor: 10000, Active: 40, Paying: 8,
		Returning: 2, PrevActive: 50, Churned: 20, AvgCLVMinor: 12345.6}}}
	svc := revenue.New(f, func() time.Time { return time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC) })
	rep, err := svc.Report(context.Background(), crmv1.RevenueDimension_REVENUE_DIMENSION_COHORT, "2026-09", "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.q != (store.RevenueQuery{Dimension: store.RevenueByCohort, From: 202609, To: 202611, Currency: "CNY"}) {
		t.Errorf("query: got %+v", f.q)
	}
	r := rep.GetRows()[0]
	if r.GetKey() != "2026-09" || r.GetMonth() != "2026-11" || r.GetNetRevenueMinor() != 90000 || r.GetArpuMinor() != 2250 ||
		r.GetArppuMinor() != 11250 || r.GetPayingRatio() != 0.2 || r.GetRepurchaseRate() != 0.25 || r.GetChurnRate() != 0.4 || r.GetAvgClvMinor() != 12346 {
		t.Errorf("row: got %v", r)
	}
	if _, err := svc.Report(context.Background(), 0, "", "", ""); err != nil || f.q.From != 202611 || f.q.To != 202611 {
		t.Errorf("default months: got %+v %v, want the current month", f.q, err)
	}
	for _, tt := range []struct{ from, to string }{{"2026-11", "2026-10"}, {"2020-01", "2026-01"}} {
		if _, err := svc.Report(context.Background(), 0, tt.from, tt.to, ""); !errors.Is(err, revenue.ErrInvalidRange) {
			t.Errorf("range %s..%s: got %v, want ErrInvalidRange", tt.from, tt.to, err)
		}
	}
	if _, err := svc.Report(context.Background(), 0, "2026/11", "", ""); !errors.Is(err, revenue.ErrInvalidMonth) {
		t.Errorf("bad month: got %v", err)
	}
}

func TestSetRule(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	svc := revenue.New(f, nil)
	ctx := context.Background()
	if _, err := svc.SetRule(ctx, &crmv1.RevenueShareRule{RuleId: "d", EffectiveMonth: "2026-01", CreatorCoupons: []string{"X"}}); !errors.Is(err, revenue.ErrInvalidRule) {
		t.Errorf("default rule with coupons: got %v", err)
	}
	if _, err := svc.SetRule(ctx, &crmv1.RevenueShareRule{RuleId: "a", CreatorId: "a", EffectiveMonth: "2026-01", OwnShareBps: 5000, PlatformShareBps: 6000}); !errors.Is(err, revenue.ErrInvalidRule) {
		t.Errorf("platform share above own: got %v", err)
	}
	r, err := svc.SetRule(ctx, &crmv1.RevenueShareRule{RuleId: "a", CreatorId: "a", EffectiveMonth: "2026-03", OwnShareBps: 8000, PlatformShareBps: 6000, CreatorCoupons: []string{"A1"}})
	if err != nil || r.GetEffectiveMonth() != "2026-03" || len(f.rules) != 1 || f.rules[0].EffectiveMonth != 202603 {
		t.Errorf("valid rule: got %v %v %+v", r, err, f.rules)
	}
	f.err = store.ErrExists
	if _, err := svc.SetRule(ctx, &crmv1.RevenueShareRule{RuleId: "b", CreatorId: "a", EffectiveMonth: "2026-03"}); !errors.Is(err, revenue.ErrConflict) {
		t.Errorf("conflict: got %v", err)
	}
}
