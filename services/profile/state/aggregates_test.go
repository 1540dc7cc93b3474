package state_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/google/go-cmp/cmp"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/state"
)

// dayD is the "today" of the hand-computed history: 2026-03-31 (UTC).
var dayD = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)

// at returns the time h:m on day D+offset.
func at(offset, h, m int) time.Time {
	return dayD.AddDate(0, 0, offset).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatalf("structpb: %v", err)
	}
	return s
}

func ev(name string, ts time.Time, p *structpb.Struct) *eventv1.Event {
	e := &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, UserId: "u1", Timestamp: timestamppb.New(ts), Properties: p}
	switch name {
	case "page":
		e.Type, e.Event = eventv1.EventType_EVENT_TYPE_PAGE, ""
	case "identify":
		e.Type, e.Event, e.Traits, e.Properties = eventv1.EventType_EVENT_TYPE_IDENTIFY, "", p, nil
	}
	return e
}

// history is a user's events in delivery order (the last two arrive late), with the
// expected values worked out by hand in TestAggregatesHandComputed.
func history(t *testing.T) []*eventv1.Event {
	return []*eventv1.Event{
		ev("identify", at(-100, 9, 0), props(t, map[string]any{
			"age": 29, "gender": "f", "city_tier": "1", "interests": "go, ml", "occupation": "engineer",
			"consent": map[string]any{"email": true, "sms": false},
		})),
		ev("page", at(-95, 10, 0), nil),
		ev(state.EventProductViewed, at(-40, 9, 0), props(t, map[string]any{"category": "Data", "tags": []any{"go"}})),
		ev(state.EventLessonStarted, at(-40, 9, 10), nil),
		ev(state.EventLessonCompleted, at(-40, 9, 40), props(t, map[string]any{"minutes": 30})),
		{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: state.EventOrderCompleted, UserId: "u1", Timestamp: timestamppb.New(at(-20, 20, 0)),
			Order: &eventv1.Order{OrderId: "o1", RevenueMinor: 9900, Currency: "CNY"}},
		ev(state.EventLessonCompleted, at(-5, 8, 0), props(t, map[string]any{"duration_seconds": 2700})),
		ev(state.EventItemRated, at(-5, 8, 50), props(t, map[string]any{"rating": 4})),
		ev(state.EventItemFavorited, at(-1, 23, 0), nil),
		ev(state.EventOrderCompleted, at(-1, 23, 30), props(t, map[string]any{"order_id": "o2", "revenue": 19.9, "currency": "CNY"})),
		ev(state.EventOrderRefunded, at(0, 1, 0), props(t, map[string]any{"order_id": "o2", "revenue": 19.9})),
		ev(state.EventProductAdded, at(0, 2, 0), nil),
		ev(state.EventLessonStarted, at(-6, 12, 0), nil), // late, inside the 90 days
		ev("page", at(-200, 12, 0), nil),                 // late, older than the buckets
	}
}

func fold(t *testing.T, events []*eventv1.Event) *profilev1.Profile {
	t.Helper()
	var p *profilev1.Profile
	for i, e := range events {
		var changed bool
		p, changed = state.Apply(p, "u1", e, pos(0, int64(i)))
		if !changed {
			t.Fatalf("event %d not applied", i)
		}
	}
	return p
}

func TestAggregatesHandComputed(t *testing.T) {
	t.Parallel()
	p := fold(t, history(t))
	asOf := at(0, 12, 0)
	state.Deriver{}.Derive(p, asOf, nil)

	want := &profilev1.Aggregates{
		Currency: "CNY",
		// D-6 .. D: events 13, 7, 8, 9, 10, 11, 12.
		D7: &profilev1.Window{LessonsStarted: 1, LessonsCompleted: 1, LearningMinutes: 45, Favorites: 1, CartAdds: 1,
			Orders: 1, RevenueMinor: 0, Refunds: 1, RefundMinor: 1990, RatingsCount: 1, RatingsSum: 4, RatingMean: 4,
			ActiveDays: 4, Sessions: 5, Events: 7},
		// + D-20: the first order, in its own session.
		D30: &profilev1.Window{LessonsStarted: 1, LessonsCompleted: 1, LearningMinutes: 45, Favorites: 1, CartAdds: 1,
			Orders: 2, RevenueMinor: 9900, Refunds: 1, RefundMinor: 1990, RatingsCount: 1, RatingsSum: 4, RatingMean: 4,
			ActiveDays: 5, Sessions: 6, Events: 8},
		// + D-40: one session of a view, a lesson started and one completed.
		D90: &profilev1.Window{Views: 1, LessonsStarted: 2, LessonsCompleted: 2, LearningMinutes: 75, Favorites: 1, CartAdds: 1,
			Orders: 2, RevenueMinor: 9900, Refunds: 1, RefundMinor: 1990, RatingsCount: 1, RatingsSum: 4, RatingMean: 4,
			ActiveDays: 6, Sessions: 7, Events: 11},
		// + D-95 (page, own session, own day), D-100 (identify), D-200 (late page: a view
		// and an event, no active day, no session).
		Lifetime: &profilev1.Window{Views: 3, LessonsStarted: 2, LessonsCompleted: 2, LearningMinutes: 75, Favorites: 1, CartAdds: 1,
			Orders: 2, RevenueMinor: 9900, Refunds: 1, RefundMinor: 1990, RatingsCount: 1, RatingsSum: 4, RatingMean: 4,
			ActiveDays: 7, Sessions: 8, Events: 14},
	}
	if diff := cmp.Diff(want, p.GetAggregates(), protocmp.Transform()); diff != "" {
		t.Errorf("aggregates (-want +got):\n%s", diff)
	}
	if got, want := p.GetEventsTotal(), int64(14); got != want {
		t.Errorf("events_total: got %d, want %d", got, want)
	}
	if got, want := p.GetFirstSeen().AsTime(), at(-200, 12, 0); !got.Equal(want) {
		t.Errorf("first_seen: got %v, want %v", got, want)
	}
	if got, want := p.GetLastSeen().AsTime(), at(0, 2, 0); !got.Equal(want) {
		t.Errorf("last_seen: got %v, want %v", got, want)
	}
	if got, want := p.GetLastPurchase().AsTime(), at(-1, 23, 30); !got.Equal(want) {
		t.Errorf("last_purchase: got %v, want %v", got, want)
	}
	// Buckets older than 90 days before the latest event (D-95, D-100) are gone.
	var days []int32
	for _, b := range p.GetActivity().GetDays() {
		days = append(days, b.GetDay()-state.Day(dayD))
	}
	if want := []int32{-40, -20, -6, -5, -1, 0}; !slices.Equal(days, want) {
		t.Errorf("bucket days relative to D: got %v, want %v", days, want)
	}

	wantDemo := &profilev1.Demographics{AgeBand: "25-34", Gender: "f", Occupation: "engineer", CityTier: "1", Interests: []string{"go", "ml"}}
	if diff := cmp.Diff(wantDemo, p.GetDemographics(), protocmp.Transform()); diff != "" {
		t.Errorf("demographics (-want +got):\n%s", diff)
	}
	if got, want := p.GetConsent(), map[string]bool{"email": true, "sms": false}; !cmp.Equal(got, want) {
		t.Errorf("consent: got %v, want %v", got, want)
	}

	// RFM values: last purchase D-1; orders D-20 and D-1; net 9900 + 1990 - 1990.
	r := p.GetRfm()
	if r.GetRecencyDays() != 1 || r.GetFrequency() != 2 || r.GetMonetaryMinor() != 9900 {
		t.Errorf("rfm values: got R=%d F=%d M=%d, want 1 2 9900", r.GetRecencyDays(), r.GetFrequency(), r.GetMonetaryMinor())
	}
	if got, want := p.GetValueTier(), state.ValueUnscored; got != want {
		t.Errorf("value_tier without boundaries: got %q, want %q", got, want)
	}
	// The user came back at D-40 after 55 days away; 40 days ago is too long for
	// "reactivated", and 5 active days and 45 minutes in 30 days are not "engaged".
	if got, want := p.GetLifecycle().GetReturnedAt().AsTime(), at(-40, 9, 0); !got.Equal(want) {
		t.Errorf("returned_at: got %v, want %v", got, want)
	}
	if got, want := p.GetLifecycle().GetStage(), state.StageActive; got != want {
		t.Errorf("stage: got %q, want %q", got, want)
	}

	// Interest: one view (weight 1) at D-40 09:00, decayed to as_of with a 30-day half-life.
	wantW := math.Exp2(-asOf.Sub(at(-40, 9, 0)).Hours() / (30 * 24))
	for name, m := range map[string]map[string]float64{"categories": p.GetInterests().GetCategories(), "tags": p.GetInterests().GetTags()} {
		if len(m) != 1 {
			t.Errorf("interests.%s: got %v, want one key", name, m)
		}
		for k, v := range m {
			if math.Abs(v-wantW) > 1e-12 || (k != "data" && k != "go") {
				t.Errorf("interests.%s[%s]: got %v, want %v", name, k, v, wantW)
			}
		}
	}
}

func TestWindowsMoveWithAsOf(t *testing.T) {
	t.Parallel()
	p := fold(t, history(t))
	// Events per day: D-40: 3, D-20: 1, D-6: 1, D-5: 2, D-1: 2, D: 2 (older days have no
	// bucket). The last event is at D 02:00.
	tests := []struct {
		asOf                     time.Time
		wantD7, wantD30, wantD90 int64 // events
		wantStage                string
	}{
		{asOf: at(0, 23, 59), wantD7: 7, wantD30: 8, wantD90: 11, wantStage: state.StageActive},
		{asOf: at(1, 0, 0), wantD7: 6, wantD30: 8, wantD90: 11, wantStage: state.StageActive},   // D-5..D+1
		{asOf: at(6, 0, 0), wantD7: 2, wantD30: 8, wantD90: 11, wantStage: state.StageActive},   // D..D+6
		{asOf: at(20, 0, 0), wantD7: 0, wantD30: 7, wantD90: 11, wantStage: state.StageAtRisk},  // 19 days inactive
		{asOf: at(50, 0, 0), wantD7: 0, wantD30: 0, wantD90: 8, wantStage: state.StageDormant},  // D-39..: D-40 out
		{asOf: at(100, 0, 0), wantD7: 0, wantD30: 0, wantD90: 0, wantStage: state.StageChurned}, // 99 days inactive
	}
	for _, tt := range tests {
		q := proto.CloneOf(p)
		state.Deriver{}.Derive(q, tt.asOf, nil)
		a := q.GetAggregates()
		if a.GetD7().GetEvents() != tt.wantD7 || a.GetD30().GetEvents() != tt.wantD30 || a.GetD90().GetEvents() != tt.wantD90 {
			t.Errorf("as of %v: got d7/d30/d90 events %d/%d/%d, want %d/%d/%d", tt.asOf,
				a.GetD7().GetEvents(), a.GetD30().GetEvents(), a.GetD90().GetEvents(), tt.wantD7, tt.wantD30, tt.wantD90)
		}
		if got := q.GetLifecycle().GetStage(); got != tt.wantStage {
			t.Errorf("as of %v: stage got %q, want %q", tt.asOf, got, tt.wantStage)
		}
		if got, want := a.GetLifetime().GetEvents(), int64(14); got != want {
			t.Errorf("as of %v: lifetime events got %d, want %d", tt.asOf, got, want)
		}
	}
}
