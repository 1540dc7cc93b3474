package store

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/cache"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/signal"
)

func newStore(t *testing.T, limits Limits) (*Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return New(rdb, limits), mr
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func fb(id string, at time.Time, sigs ...signal.Signal) signal.Feedback {
	return signal.Feedback{User: "u1", EventID: id, Time: at, Signals: sigs}
}

func entry(t *testing.T, s *Store, item string) Entry {
	t.Helper()
	h, err := s.History(t.Context(), "u1")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	for _, e := range h {
		if e.Item == item {
			return e
		}
	}
	t.Fatalf("item %s not in history %v", item, h)
	return Entry{}
}

func TestApplyDecaysAndIsIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Limits{HalfLife: 24 * time.Hour})
	ctx := t.Context()
	view := signal.Signal{Item: "a", Kind: signal.KindView, Weight: 4}
	if ok, err := s.Apply(ctx, fb("e1", t0, view)); !ok || err != nil {
		t.Fatalf("Apply e1: got %v %v, want true nil", ok, err)
	}
	// Redelivered: nothing changes.
	if ok, err := s.Apply(ctx, fb("e1", t0, view)); ok || err != nil {
		t.Fatalf("Apply e1 again: got %v %v, want false nil", ok, err)
	}
	// One half-life later: 4·½ + 4.
	if _, err := s.Apply(ctx, fb("e2", t0.Add(24*time.Hour), view)); err != nil {
		t.Fatalf("Apply e2: %v", err)
	}
	e := entry(t, s, "a")
	if math.Abs(e.Weight-6) > 1e-4 || !e.At.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("entry: got weight %v at %v, want 6 at %v", e.Weight, e.At, t0.Add(24*time.Hour))
	}
	// An older event arrives late: its weight is decayed to the entry's time (4·¼ + 6).
	if _, err := s.Apply(ctx, fb("e0", t0.Add(-24*time.Hour), view)); err != nil {
		t.Fatalf("Apply e0: %v", err)
	}
	if e := entry(t, s, "a"); math.Abs(e.Weight-7) > 1e-4 {
		t.Errorf("after a late event: got weight %v, want 7", e.Weight)
	}
	users, err := s.ActiveUsers(ctx, 10, t0.Add(-time.Hour))
	if err != nil || !reflect.DeepEqual(users, []string{"u1"}) {
		t.Errorf("ActiveUsers: got %v %v, want [u1]", users, err)
	}
}

func TestApplyMarksAndRefundsOrders(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Limits{})
	ctx := t.Context()
	order := signal.Feedback{User: "u1", EventID: "o", Time: t0, OrderID: "order-1", Signals: []signal.Signal{
		{Item: "a", Kind: signal.KindPurchase, Weight: 5, Owned: signal.Set},
		{Item: "b", Kind: signal.KindPurchase, Weight: 5, Owned: signal.Set},
	}}
	if _, err := s.Apply(ctx, order); err != nil {
		t.Fatalf("Apply order: %v", err)
	}
	if e := entry(t, s, "a"); !e.Owned || e.Negative || e.Kind != signal.KindPurchase {
		t.Errorf("after purchase: got %+v, want owned purchase", e)
	}
	items, err := s.OrderItems(ctx, "u1", "order-1")
	if err != nil || !reflect.DeepEqual(items, []string{"a", "b"}) {
		t.Errorf("OrderItems: got %v %v, want [a b]", items, err)
	}
	refund := signal.Feedback{User: "u1", EventID: "r", Time: t0.Add(time.Hour), OrderID: "order-1", RefundOrder: true}
	if ok, err := s.Apply(ctx, refund); !ok || err != nil {
		t.Fatalf("Apply refund: got %v %v", ok, err)
	}
	for _, it := range []string{"a", "b"} {
		if e := entry(t, s, it); e.Owned || !e.Negative {
			t.Errorf("%s after refund: got %+v, want negative, not owned", it, e)
		}
	}
	// A later high rating clears the negative mark.
	if _, err := s.Apply(ctx, fb("rate", t0.Add(2*time.Hour), signal.Signal{Item: "a", Kind: signal.KindRatedPositive, Weight: 4, Negative: signal.Clear})); err != nil {
		t.Fatalf("Apply rating: %v", err)
	}
	if e := entry(t, s, "a"); e.Negative {
		t.Errorf("a after a good rating: still negative")
	}
}

func TestApplyBoundsHistoryAndEvents(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, Limits{MaxItems: 3, MaxEvents: 2, TTL: time.Hour})
	ctx := t.Context()
	for i, it := range []string{"a", "b", "c", "d", "e"} {
		if _, err := s.Apply(ctx, fb(it, t0.Add(time.Duration(i)*time.Minute), signal.Signal{Item: it, Kind: signal.KindView, Weight: 1})); err != nil {
			t.Fatalf("Apply %s: %v", it, err)
		}
	}
	h, _ := s.History(ctx, "u1")
	var got []string
	for _, e := range h {
		got = append(got, e.Item)
	}
	slices.Sort(got)
	if want := []string{"c", "d", "e"}; !reflect.DeepEqual(got, want) {
		t.Errorf("history: got %v, want the 3 latest %v", got, want)
	}
	if n, _ := mr.ZMembers(cache.RecEventsKey("u1")); len(n) != 2 {
		t.Errorf("event ids kept: got %v, want 2", n)
	}
	if ttl := mr.TTL(cache.RecHistoryKey("u1")); ttl != time.Hour {
		t.Errorf("history TTL: got %v, want 1h", ttl)
	}
}

func TestListsRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Limits{})
	ctx := t.Context()
	if _, err := s.ListItems(ctx, "u1", "home"); err != ErrNotFound {
		t.Fatalf("ListItems before Put: got %v, want ErrNotFound", err)
	}
	list := &recommendationv1.RecommendResponse{Variant: "ease", Items: []*recommendationv1.Recommendation{{ItemId: "a", Score: 2, Reason: "r"}, {ItemId: "b", Score: 1}}}
	if err := s.PutLists(ctx, "home", map[string]*recommendationv1.RecommendResponse{"u1": list}, time.Hour); err != nil {
		t.Fatalf("PutLists: %v", err)
	}
	got, err := s.ListItems(ctx, "u1", "home")
	if want := []ListItem{{"a", 2, "r"}, {"b", 1, ""}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListItems: got %v, %v; want %v", got, err, want)
	}
}

func TestTraits(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, Limits{TTL: time.Hour})
	ctx := t.Context()
	steps := []func() error{
		func() error { return s.PutInterests(ctx, "u", []string{"经济学", "go"}) },
		func() error { return s.SetSegment(ctx, "u", "champions", true) },
		func() error { return s.SetSegment(ctx, "u", "at-risk", true) },
		func() error { return s.SetSegment(ctx, "u", "at-risk", false) },
		func() error { return s.SetSegment(ctx, "u", "at-risk", false) }, // redelivered exit
		func() error { return s.SetSegment(ctx, "v", "champions", true) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got, err := s.Traits(ctx, "u")
	if err != nil {
		t.Fatalf("Traits: %v", err)
	}
	want := Traits{Interests: []string{"经济学", "go"}, Segments: []string{"champions"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Traits(u): got %+v, want %+v", got, want)
	}
	if ttl := mr.TTL(traitsKey("u")); ttl != time.Hour {
		t.Errorf("TTL: got %v, want 1h", ttl)
	}
	all, err := s.TraitsOf(ctx, []string{"u", "v", "nobody"})
	if err != nil {
		t.Fatalf("TraitsOf: %v", err)
	}
	if len(all) != 2 || !reflect.DeepEqual(all["v"], Traits{Segments: []string{"champions"}}) {
		t.Errorf("TraitsOf: got %+v, want u and v, v in champions", all)
	}
	if err := s.PutInterests(ctx, "u", nil); err != nil {
		t.Fatalf("PutInterests(nil): %v", err)
	}
	if got, _ := s.Traits(ctx, "u"); got.Interests != nil {
		t.Errorf("after clearing: got interests %q, want none", got.Interests)
	}
}

func TestSegmentNames(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Limits{})
	ctx := t.Context()
	for _, kv := range [][2]string{{"seg-1", "Champions"}, {"seg-2", "At risk"}, {"seg-2", ""}, {"seg-3", "夜猫子"}} {
		if err := s.PutSegmentName(ctx, kv[0], kv[1]); err != nil {
			t.Fatalf("PutSegmentName(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	got, err := s.SegmentNames(ctx)
	if want := map[string]string{"seg-1": "Champions", "seg-3": "夜猫子"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SegmentNames: got %v, %v; want %v", got, err, want)
	}
}

func TestHistoryIsOrderedByItem(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Limits{})
	var sigs []signal.Signal
	for _, it := range []string{"c", "a", "d", "b"} {
		sigs = append(sigs, signal.Signal{Item: it, Kind: signal.KindView, Weight: 1})
	}
	if _, err := s.Apply(t.Context(), signal.Feedback{User: "u", EventID: "e", Time: time.Unix(1e9, 0), Signals: sigs}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	h, err := s.History(t.Context(), "u")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var got []string
	for _, en := range h {
		got = append(got, en.Item)
	}
	if want := []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("History: got %v, want %v", got, want)
	}
}

func TestEraseUser(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, Limits{})
	ctx := t.Context()
	// The erased user's id holds glob characters: only their own list keys may match.
	const user = "u*1"
	for _, u := range []string{user, "u21"} {
		f := signal.Feedback{User: u, EventID: "o-" + u, Time: t0, OrderID: "order-" + u,
			Signals: []signal.Signal{{Item: "a", Kind: signal.KindPurchase, Weight: 4, Owned: signal.Set}}}
		if _, err := s.Apply(ctx, f); err != nil {
			t.Fatalf("Apply %s: %v", u, err)
		}
		if err := s.PutInterests(ctx, u, []string{"go"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSegment(ctx, u, "learners", true); err != nil {
			t.Fatal(err)
		}
		for _, scene := range []string{"home", "email"} {
			if err := s.PutLists(ctx, scene, map[string]*recommendationv1.RecommendResponse{u: {Variant: "ease"}}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := len(mr.Keys())
	// History, events, orders, traits, two lists and the active-users entry; then nothing.
	for i, want := range []int64{7, 0} {
		n, err := s.EraseUser(ctx, user)
		if err != nil || n != want {
			t.Errorf("EraseUser #%d: got %d, %v; want %d, nil", i+1, n, err, want)
		}
	}
	if h, err := s.History(ctx, user); err != nil || len(h) != 0 {
		t.Errorf("History after erasure: got %v, %v; want none", h, err)
	}
	if tr, err := s.Traits(ctx, user); err != nil || len(tr.Interests)+len(tr.Segments) != 0 {
		t.Errorf("Traits after erasure: got %v, %v; want none", tr, err)
	}
	if _, err := s.ListItems(ctx, user, "home"); err != ErrNotFound {
		t.Errorf("ListItems after erasure: got %v, want ErrNotFound", err)
	}
	if active, err := s.ActiveUsers(ctx, 10, t0.Add(-time.Hour)); err != nil || !slices.Equal(active, []string{"u21"}) {
		t.Errorf("ActiveUsers after erasure: got %v, %v; want [u21]", active, err)
	}
	// The other user keeps history, orders, events, traits and both lists.
	if got := before - len(mr.Keys()); got != 6 {
		t.Errorf("keys removed: got %d, want the erased user's 6 (history, events, orders, traits, 2 lists)", got)
	}
	if _, err := s.ListItems(ctx, "u21", "email"); err != nil {
		t.Errorf("the other user's list: %v", err)
	}
}
