package state_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/state"
)

func foldAs(t *testing.T, user string, partition int32, events []*eventv1.Event) *profilev1.Profile {
	t.Helper()
	var p *profilev1.Profile
	for i, e := range events {
		e = proto.CloneOf(e)
		e.UserId = user
		p, _ = state.Apply(p, user, e, pos(partition, int64(i)))
	}
	return p
}

func alias(previous string, ts time.Time) *eventv1.Event {
	return &eventv1.Event{EventId: "alias-" + previous, Type: eventv1.EventType_EVENT_TYPE_ALIAS, UserId: "u1", PreviousId: previous, Timestamp: timestamppb.New(ts)}
}

func TestMergeWithoutDoubleCounting(t *testing.T) {
	t.Parallel()
	// The anonymous history: a lesson on D-3 and an order on D-2 (shared day with the user
	// on D-2), plus a trait the user does not have.
	anonEvents := []*eventv1.Event{
		ev("identify", at(-3, 8, 0), props(t, map[string]any{"gender": "m", "city_tier": "2"})),
		ev(state.EventLessonCompleted, at(-3, 9, 0), props(t, map[string]any{"minutes": 20, "category": "Design"})),
		{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: state.EventOrderCompleted, Timestamp: timestamppb.New(at(-2, 10, 0)),
			Order: &eventv1.Order{OrderId: "o1", RevenueMinor: 5000, Currency: "CNY"}},
	}
	userEvents := []*eventv1.Event{
		ev("identify", at(-2, 7, 0), props(t, map[string]any{"city_tier": "1"})),
		ev(state.EventLessonCompleted, at(-2, 20, 0), props(t, map[string]any{"minutes": 10, "category": "Design"})),
		ev(state.EventLessonStarted, at(-1, 9, 0), nil),
	}
	anon := foldAs(t, "anon-1", 4, anonEvents)
	user := foldAs(t, "u1", 1, userEvents)

	merged, changed := state.DefaultParams().Apply(proto.CloneOf(user), "u1", alias("anon-1", at(-1, 9, 5)), pos(1, 10), anon)
	if !changed {
		t.Fatal("alias: changed got false, want true")
	}
	// Another alias of the same id (a new event, so it counts as one) does not merge again.
	resent := alias("anon-1", at(-1, 9, 6))
	resent.EventId = "alias-anon-1-resent"
	again, _ := state.DefaultParams().Apply(proto.CloneOf(merged), "u1", resent, pos(1, 11), anon)
	asOf := at(0, 12, 0)
	for name, p := range map[string]*profilev1.Profile{"merged": merged, "alias again": again} {
		state.Deriver{}.Derive(p, asOf, nil)
		lt := p.GetAggregates().GetLifetime()
		// Anonymous: 3 events, user: 3 + the alias (+ the second alias).
		wantEvents := int64(7)
		if name == "alias again" {
			wantEvents = 8
		}
		if got := lt.GetEvents(); got != wantEvents {
			t.Errorf("%s: lifetime events got %d, want %d", name, got, wantEvents)
		}
		if got, want := lt.GetLessonsCompleted(), int64(2); got != want {
			t.Errorf("%s: lessons completed got %d, want %d", name, got, want)
		}
		if got, want := lt.GetLearningMinutes(), 30.0; got != want {
			t.Errorf("%s: learning minutes got %v, want %v", name, got, want)
		}
		if got, want := lt.GetOrders(), int64(1); got != want {
			t.Errorf("%s: orders got %d, want %d", name, got, want)
		}
		if got, want := lt.GetRevenueMinor(), int64(5000); got != want {
			t.Errorf("%s: revenue got %d, want %d", name, got, want)
		}
		// Active days: D-3 (anon), D-2 (both: once), D-1 (user).
		if got, want := lt.GetActiveDays(), int64(3); got != want {
			t.Errorf("%s: lifetime active days got %d, want %d", name, got, want)
		}
		if got, want := p.GetAggregates().GetD7().GetActiveDays(), int64(3); got != want {
			t.Errorf("%s: d7 active days got %d, want %d", name, got, want)
		}
		if got, want := p.GetMergedIds(), []string{"anon-1"}; !slices.Equal(got, want) {
			t.Errorf("%s: merged_ids got %v, want %v", name, got, want)
		}
		if got, want := p.GetFirstSeen().AsTime(), at(-3, 8, 0); !got.Equal(want) {
			t.Errorf("%s: first_seen got %v, want %v", name, got, want)
		}
		// The user's own trait wins; the anonymous one fills the gap.
		if got, want := p.GetDemographics().GetCityTier(), "1"; got != want {
			t.Errorf("%s: city_tier got %q, want %q", name, got, want)
		}
		if got, want := p.GetDemographics().GetGender(), "m"; got != want {
			t.Errorf("%s: gender got %q, want %q", name, got, want)
		}
		if got, want := p.GetRfm().GetFrequency(), int64(1); got != want {
			t.Errorf("%s: rfm frequency got %d, want %d", name, got, want)
		}
		if got, want := p.GetEventCounts()[state.EventLessonCompleted], int64(2); got != want {
			t.Errorf("%s: event_counts[Lesson Completed] got %d, want %d", name, got, want)
		}
		if w := p.GetInterests().GetCategories()["design"]; w <= 3 || w > 6 {
			// Two completed lessons of weight 3, decayed by a few days.
			t.Errorf("%s: interest design got %v, want in (3, 6]", name, w)
		}
	}
}

func TestMergeIgnoresMismatchedProfile(t *testing.T) {
	t.Parallel()
	user := foldAs(t, "u1", 1, []*eventv1.Event{ev(state.EventLessonStarted, at(-1, 9, 0), nil)})
	other := foldAs(t, "someone-else", 2, []*eventv1.Event{ev(state.EventLessonStarted, at(-1, 9, 0), nil)})
	tests := []struct {
		name   string
		ev     *eventv1.Event
		merged *profilev1.Profile
	}{
		{"merged profile of another id", alias("anon-1", at(0, 1, 0)), other},
		{"missing merged profile", alias("anon-1", at(0, 1, 0)), nil},
		{"alias of itself", alias("u1", at(0, 1, 0)), user},
	}
	for _, tt := range tests {
		p, _ := state.DefaultParams().Apply(proto.CloneOf(user), "u1", tt.ev, pos(1, 5), tt.merged)
		if got, want := p.GetAggregates().GetLifetime().GetLessonsStarted(), int64(1); got != want {
			t.Errorf("%s: lessons started got %d, want %d", tt.name, got, want)
		}
		if len(p.GetMergedIds()) != 0 {
			t.Errorf("%s: merged_ids got %v, want none", tt.name, p.GetMergedIds())
		}
	}
}

func TestDuplicateEventID(t *testing.T) {
	t.Parallel()
	e := ev(state.EventLessonStarted, at(0, 9, 0), nil)
	e.EventId = "m-1"
	p, _ := state.Apply(nil, "u1", e, pos(0, 1))
	p, changed := state.Apply(p, "u1", proto.CloneOf(e), pos(0, 2))
	if changed {
		t.Errorf("same event id at a new offset: changed got true, want false")
	}
	if got, want := p.GetEventsTotal(), int64(1); got != want {
		t.Errorf("events_total: got %d, want %d", got, want)
	}
	other := proto.CloneOf(e)
	other.EventId = "m-2"
	if p, changed = state.Apply(p, "u1", other, pos(0, 3)); !changed || p.GetEventsTotal() != 2 {
		t.Errorf("another id: got changed %v events_total %d, want true 2", changed, p.GetEventsTotal())
	}
}

func TestApplyPrediction(t *testing.T) {
	t.Parallel()
	pred := func(churn float64, at time.Time) *predictionv1.Prediction {
		return &predictionv1.Prediction{UserId: "u1", ChurnRisk: churn, ScoredAt: timestamppb.New(at)}
	}
	tests := []struct {
		name        string
		pred        *predictionv1.Prediction
		pos         *profilev1.Position
		wantChanged bool
		wantChurn   float64
	}{
		{"newer", pred(0.4, at(0, 2, 0)), pos(3, 8), true, 0.4},
		{"redelivered", pred(0.4, at(0, 2, 0)), pos(3, 7), false, 0.2},
		{"scored earlier", pred(0.9, at(-1, 0, 0)), pos(3, 8), true, 0.2},
	}
	for _, tt := range tests {
		p, _ := state.ApplyPrediction(nil, "u1", pred(0.2, at(0, 1, 0)), pos(3, 7))
		p, changed := state.ApplyPrediction(p, "u1", tt.pred, tt.pos)
		if changed != tt.wantChanged {
			t.Errorf("%s: changed got %v, want %v", tt.name, changed, tt.wantChanged)
		}
		if got := p.GetPredictions().GetChurnRisk(); got != tt.wantChurn {
			t.Errorf("%s: churn_risk got %v, want %v", tt.name, got, tt.wantChurn)
		}
	}
}

func TestLifecycleStages(t *testing.T) {
	t.Parallel()
	lessons := func(from, to int, minutes float64) []*eventv1.Event {
		var out []*eventv1.Event
		for d := from; d <= to; d++ {
			out = append(out, ev(state.EventLessonCompleted, at(d, 9, 0), props(t, map[string]any{"minutes": minutes})))
		}
		return out
	}
	tests := []struct {
		name   string
		events []*eventv1.Event
		asOf   time.Time
		want   string
	}{
		{"no events", nil, at(0, 12, 0), ""},
		{"new", lessons(-3, -1, 5), at(0, 12, 0), state.StageNew},
		{"reactivated", append(lessons(-60, -60, 5), lessons(-2, -1, 5)...), at(0, 12, 0), state.StageReactivated},
		{"active, not reactivated", append(lessons(-100, -100, 5), append(lessons(-50, -40, 1), lessons(-2, -1, 5)...)...), at(0, 12, 0), state.StageActive},
		{"engaged by days", append(lessons(-40, -40, 1), lessons(-8, 0, 1)...), at(0, 12, 0), state.StageEngaged},
		{"engaged by minutes", append(lessons(-40, -40, 1), lessons(-2, -1, 60)...), at(0, 12, 0), state.StageEngaged},
		{"at risk", lessons(-100, -100, 5), at(-84, 0, 0), state.StageAtRisk},
		{"dormant", lessons(-100, -100, 5), at(-50, 0, 0), state.StageDormant},
		{"churned", lessons(-100, -100, 5), at(0, 0, 0), state.StageChurned},
	}
	for _, tt := range tests {
		p := &profilev1.Profile{UserId: "u1"}
		if len(tt.events) > 0 {
			p = fold(t, tt.events)
		}
		state.Deriver{}.Derive(p, tt.asOf, nil)
		if got := p.GetLifecycle().GetStage(); got != tt.want {
			t.Errorf("%s: stage got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLifecycleThresholdsConfigurable(t *testing.T) {
	t.Parallel()
	p := fold(t, []*eventv1.Event{ev(state.EventLessonStarted, at(-40, 9, 0), nil), ev(state.EventLessonStarted, at(-10, 9, 0), nil)})
	tests := []struct {
		rules state.LifecycleRules
		want  string
	}{
		{state.LifecycleRules{}, state.StageActive},
		{state.LifecycleRules{AtRiskAfterDays: 7}, state.StageAtRisk},
		{state.LifecycleRules{AtRiskAfterDays: 3, DormantAfterDays: 5}, state.StageDormant},
		{state.LifecycleRules{ChurnedAfterDays: 9}, state.StageChurned},
		{state.LifecycleRules{NewDays: 200}, state.StageNew},
	}
	for _, tt := range tests {
		q := proto.CloneOf(p)
		state.Deriver{Lifecycle: tt.rules}.Derive(q, at(0, 12, 0), nil)
		if got := q.GetLifecycle().GetStage(); got != tt.want {
			t.Errorf("%+v: stage got %q, want %q", tt.rules, got, tt.want)
		}
	}
}

func TestRevenueCurrencies(t *testing.T) {
	t.Parallel()
	order := func(p map[string]any, o *eventv1.Order) *eventv1.Event {
		e := ev(state.EventOrderCompleted, at(0, 9, 0), props(t, p))
		e.Order = o
		return e
	}
	tests := []struct {
		name            string
		events          []*eventv1.Event
		wantCurrency    string
		wantRevenue     int64
		wantUnconverted map[string]int64
	}{
		{"typed order", []*eventv1.Event{order(nil, &eventv1.Order{OrderId: "o", RevenueMinor: 1234, Currency: "USD"})}, "USD", 1234, nil},
		{"order items", []*eventv1.Event{order(nil, &eventv1.Order{OrderId: "o", Items: []*eventv1.OrderItem{{ItemId: "a", Quantity: 2, PriceMinor: 300}, {ItemId: "b", PriceMinor: 50}}})}, "CNY", 650, nil},
		{"properties revenue", []*eventv1.Event{order(map[string]any{"revenue": 99.99, "currency": "usd"}, nil)}, "USD", 9999, nil},
		{"zero-decimal currency", []*eventv1.Event{order(map[string]any{"total": 1500, "currency": "JPY"}, nil)}, "JPY", 1500, nil},
		{"default currency", []*eventv1.Event{order(map[string]any{"revenue": 10}, nil)}, "CNY", 1000, nil},
		{"second currency kept apart", []*eventv1.Event{
			order(map[string]any{"revenue": 10}, nil),
			order(map[string]any{"revenue": 5, "currency": "EUR"}, nil),
		}, "CNY", 1000, map[string]int64{"EUR": 500}},
	}
	for _, tt := range tests {
		p := fold(t, tt.events)
		a := p.GetAggregates()
		if a.GetCurrency() != tt.wantCurrency || a.GetLifetime().GetRevenueMinor() != tt.wantRevenue {
			t.Errorf("%s: got %d %s, want %d %s", tt.name, a.GetLifetime().GetRevenueMinor(), a.GetCurrency(), tt.wantRevenue, tt.wantCurrency)
		}
		if got := p.GetActivity().GetUnconvertedRevenueMinor(); !maps.Equal(got, tt.wantUnconverted) {
			t.Errorf("%s: unconverted got %v, want %v", tt.name, got, tt.wantUnconverted)
		}
		if got, want := a.GetLifetime().GetOrders(), int64(len(tt.events)); got != want {
			t.Errorf("%s: orders got %d, want %d", tt.name, got, want)
		}
	}
}
