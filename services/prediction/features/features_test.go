package features_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/features"
)

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(days float64) time.Time { return day0.Add(time.Duration(days * 24 * float64(time.Hour))) }

func orderEvent(user string, days float64, cents int64, qty int32) *eventv1.Event {
	return &eventv1.Event{
		UserId: user, Event: features.OrderCompleted, Timestamp: timestamppb.New(at(days)),
		Order: &eventv1.Order{OrderId: "o", RevenueMinor: cents, Currency: "CNY", Items: []*eventv1.OrderItem{{ItemId: "i", Quantity: qty}}},
	}
}

func activity(user string, days float64) *eventv1.Event {
	return &eventv1.Event{UserId: user, Event: "Lesson Completed", Timestamp: timestamppb.New(at(days))}
}

func TestVector(t *testing.T) {
	t.Parallel()
	var s features.State
	// Applied out of order on purpose.
	for _, e := range []*eventv1.Event{
		orderEvent("u", 50.5, 5000, 2),
		orderEvent("u", 10.2, 1000, 1),
		orderEvent("u", 10.7, 3000, 1), // same day as the one before
		activity("u", 5),
		activity("u", 95),
		orderEvent("u", 120, 99999, 9), // after asOf: invisible
	} {
		s.Apply(e)
	}
	v := s.Vector(at(100))
	want := map[int]float64{
		features.DaysSinceFirstOrder:   90,
		features.DaysSinceLastOrder:    50,
		features.OrderDays:             2,
		features.OrderDays30:           0,
		features.OrderDays90:           1,
		features.OrderDays180:          2,
		features.Orders:                3,
		features.RevenueTotal:          90,
		features.RevenuePerOrderDay:    45,
		features.RevenueLastOrderDay:   50,
		features.ItemsTotal:            4,
		features.ItemsPerOrderDay:      2,
		features.MeanDaysBetweenOrders: 40,
		features.OrderOverdueRatio:     50.0 / 40,
		features.TenureDays:            95,
		features.DaysSinceLastEvent:    5,
		features.Events30:              1,
		features.ActiveDays30:          1,
		features.EventsTotal:           5,
		features.RepeatRate30:          1.0 * 30 / 90,
		features.RecencyShare:          40.0 / 90,
	}
	if len(v) != features.Count {
		t.Fatalf("len: got %d, want %d", len(v), features.Count)
	}
	for i, w := range want {
		if math.Abs(v[i]-w) > 1e-9 {
			t.Errorf("%s: got %v, want %v", features.Names[i], v[i], w)
		}
	}
	if got := s.Currency(); got != "CNY" {
		t.Errorf("currency: got %q, want CNY", got)
	}
}

func TestVectorIsPointInTime(t *testing.T) {
	t.Parallel()
	// A state that has seen the future gives the same vector as one that has not.
	var past, all features.State
	events := []*eventv1.Event{orderEvent("u", 1, 100, 1), activity("u", 3), orderEvent("u", 20, 200, 1)}
	future := []*eventv1.Event{orderEvent("u", 31, 999, 5), activity("u", 30)}
	for _, e := range events {
		past.Apply(e)
		all.Apply(e)
	}
	for _, e := range future {
		all.Apply(e)
	}
	cut := at(30) // the activity at exactly the cutoff is in the future
	a, b := past.Vector(cut), all.Vector(cut)
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("%s: without the future %v, with it %v", features.Names[i], a[i], b[i])
		}
	}
	if got := len(all.Purchases(cut)); got != 2 {
		t.Errorf("Purchases before the cutoff: got %d, want 2", got)
	}
}

func TestRevenueFromProperties(t *testing.T) {
	t.Parallel()
	var s features.State
	props, _ := structpb.NewStruct(map[string]any{"revenue": 12.5})
	s.Apply(&eventv1.Event{UserId: "u", Event: features.OrderCompleted, Timestamp: timestamppb.New(at(1)), Properties: props})
	if got := s.Vector(at(2))[features.RevenueTotal]; got != 12.5 {
		t.Errorf("revenue from properties: got %v, want 12.5", got)
	}
}

func TestBuildTrainingSet(t *testing.T) {
	t.Parallel()
	events := []*eventv1.Event{
		orderEvent("buyer", 1, 100, 1), orderEvent("buyer", 12, 100, 1), // buys again in the horizon
		orderEvent("lapsed", 2, 100, 1), orderEvent("lapsed", 40, 100, 1), // buys again, too late
		activity("browser", 5), activity("browser", 11), // active, never buys
		orderEvent("newcomer", 11, 100, 1), // first seen after the cutoff: excluded
	}
	states := features.Replay(events)
	cut := at(10)
	ts := features.BuildTrainingSet(states, cut, features.PurchaseWithin(7*24*time.Hour))
	got := map[string]float64{}
	for i, u := range ts.Users {
		got[u] = ts.Y[i]
		if ts.X[i][features.Orders] > 1 {
			t.Errorf("%s: %v orders before the cutoff, want at most 1 (leak)", u, ts.X[i][features.Orders])
		}
	}
	want := map[string]float64{"buyer": 1, "lapsed": 0, "browser": 0}
	if len(got) != len(want) {
		t.Fatalf("users: got %v, want %v", got, want)
	}
	for u, y := range want {
		if got[u] != y {
			t.Errorf("%s: label %v, want %v", u, got[u], y)
		}
	}
	// Unbounded horizon: lapsed buys again eventually.
	ts = features.BuildTrainingSet(states, cut, features.PurchaseWithin(0))
	for i, u := range ts.Users {
		if u == "lapsed" && ts.Y[i] != 1 {
			t.Errorf("lapsed with an unbounded horizon: label %v, want 1", ts.Y[i])
		}
	}
	// Churn: only users active in the window before the cutoff.
	churn := features.BuildTrainingSet(states, cut, features.ChurnWithin(7*24*time.Hour, 7*24*time.Hour))
	gotChurn := map[string]float64{}
	for i, u := range churn.Users {
		gotChurn[u] = churn.Y[i]
	}
	if len(gotChurn) != 1 || gotChurn["browser"] != 0 {
		t.Errorf("churn set: got %v, want only browser, not churned", gotChurn)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		feature int
		v       float64
		want    string
	}{
		{features.DaysSinceLastOrder, 21, "21 days since the last order"},
		{features.RevenueTotal, 12.345, "12.3 spent in total"},
		{features.Events30, 0, "0 events in the last 30 days"},
		{features.RepeatRate30, 0.333, "0.3 repeat order days per 30 days"},
		{features.RecencyShare, 0.444, "orders spanning 44.4% of the time since the first"},
		{-1, 0, "unknown feature"},
	}
	for _, tt := range tests {
		if got := features.Describe(tt.feature, tt.v); got != tt.want {
			t.Errorf("Describe(%d, %v): got %q, want %q", tt.feature, tt.v, got, tt.want)
		}
	}
	for i := range features.Count {
		if got := features.Describe(i, 1); got == "unknown feature" {
			t.Errorf("Describe(%d = %s): no phrase", i, features.Names[i])
		}
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	var s features.State
	e := orderEvent("u", 3, 500, 1)
	e.EventId = "m1"
	other := orderEvent("u", 3, 700, 1) // same time, different id: a second order
	other.EventId = "m2"
	for i, tt := range []struct {
		ev   *eventv1.Event
		want bool
	}{{e, true}, {e, false}, {other, true}, {other, false}} {
		if got := s.Apply(tt.ev); got != tt.want {
			t.Errorf("apply %d: got %v, want %v", i, got, tt.want)
		}
	}
	if got := s.Vector(at(10))[features.Orders]; got != 2 {
		t.Errorf("orders: got %v, want 2", got)
	}
}

func TestCategories(t *testing.T) {
	t.Parallel()
	props, err := structpb.NewStruct(map[string]any{
		"category":   " Design ",
		"categories": []any{"design", "Writing"},
		"products":   []any{map[string]any{"category": "Music"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   *eventv1.Event
		want []string
	}{
		{"order items first, then properties, lower-cased and distinct", &eventv1.Event{
			Order:      &eventv1.Order{Items: []*eventv1.OrderItem{{Category: "Code"}, {Category: "code"}, {Category: ""}}},
			Properties: props,
		}, []string{"code", "music", "design", "writing"}},
		{"none", &eventv1.Event{Event: "Lesson Completed"}, nil},
	}
	for _, tt := range tests {
		if got := features.Categories(tt.ev); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCategoryHistory(t *testing.T) {
	t.Parallel()
	view := func(days float64, cat string) *eventv1.Event {
		p, _ := structpb.NewStruct(map[string]any{"category": cat})
		return &eventv1.Event{UserId: "u", Event: "Product Viewed", Timestamp: timestamppb.New(at(days)), Properties: p}
	}
	buy := func(days float64, cat string) *eventv1.Event {
		e := orderEvent("u", days, 100, 1)
		e.Order.Items[0].Category = cat
		return e
	}
	var s features.State
	for _, e := range []*eventv1.Event{buy(30, "b"), view(5, "a"), buy(10, "a"), orderEvent("u", 20, 100, 1), view(40, "c")} {
		s.Apply(e)
	}
	cats := func(evs []features.CategoryEvent) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Categories...)
		}
		return out
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"orders before day 31", cats(s.CategoryOrders(at(31))), []string{"a", "b"}},
		{"orders before day 30", cats(s.CategoryOrders(at(30))), []string{"a"}},
		{"orders in [15, 31)", cats(s.CategoryOrdersBetween(at(15), at(31))), []string{"b"}},
		{"interactions before day 41", cats(s.CategoryInteractions(at(41))), []string{"a", "c"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}
