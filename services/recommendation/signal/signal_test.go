package signal

import (
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

func track(name string, props map[string]any) *eventv1.Event {
	p, err := structpb.NewStruct(props)
	if err != nil {
		panic(err)
	}
	return &eventv1.Event{EventId: "e", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, Properties: p, Timestamp: timestamppb.Now()}
}

func TestFromEvent(t *testing.T) {
	t.Parallel()
	w := DefaultWeights
	tests := []struct {
		name    string
		ev      *eventv1.Event
		want    []Signal
		refresh bool
	}{
		{"view", track("Product Viewed", map[string]any{"product_id": "c1", "category": "go", "item_type": "course", "price_minor": 990}),
			[]Signal{{Item: "c1", Kind: KindView, Weight: 1, Category: "go", ItemType: "course", PriceMinor: 990}}, false},
		{"cart", track("Product Added", map[string]any{"product_id": "c1"}), []Signal{{Item: "c1", Kind: KindCart, Weight: 3}}, false},
		{"favourite", track("Item Favorited", map[string]any{"item_id": "c1"}), []Signal{{Item: "c1", Kind: KindFavourite, Weight: 4}}, false},
		{"lesson started", track("Lesson Started", map[string]any{"item_id": "c1"}), []Signal{{Item: "c1", Kind: KindLessonStarted, Weight: 2, Owned: Set}}, false},
		{"lesson completed half way", track("Lesson Completed", map[string]any{"item_id": "c1", "progress": 0.5}),
			[]Signal{{Item: "c1", Kind: KindLessonCompleted, Weight: 4, Owned: Set}}, false},
		{"good rating", track("Item Rated", map[string]any{"item_id": "c1", "rating": 5}), []Signal{{Item: "c1", Kind: KindRatedPositive, Weight: 4, Negative: Clear}}, false},
		{"neutral rating", track("Item Rated", map[string]any{"item_id": "c1", "rating": 3}), []Signal{{Item: "c1", Kind: KindView, Weight: 1}}, false},
		{"bad review", track("Review Submitted", map[string]any{"item_id": "c1", "rating": 2}), []Signal{{Item: "c1", Negative: Set}}, true},
		{"order from products", track("Order Completed", map[string]any{"order_id": "o1", "products": []any{
			map[string]any{"product_id": "c1", "category": "go"}, map[string]any{"product_id": "c2"}, map[string]any{"product_id": "c1"}}}),
			[]Signal{{Item: "c1", Kind: KindPurchase, Weight: 5, Owned: Set, Category: "go"}, {Item: "c2", Kind: KindPurchase, Weight: 5, Owned: Set}}, true},
		{"refund of items", track("Order Refunded", map[string]any{"order_id": "o1", "products": []any{map[string]any{"product_id": "c1"}}}),
			[]Signal{{Item: "c1", Owned: Clear, Negative: Set}}, true},
		{"page", &eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_PAGE, Timestamp: timestamppb.Now()}, nil, false},
		{"no item", track("Product Viewed", map[string]any{}), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := FromEvent("u", tt.ev, w)
			if !reflect.DeepEqual(f.Signals, tt.want) {
				t.Errorf("signals: got %+v, want %+v", f.Signals, tt.want)
			}
			if got := f.Refresh(); got != tt.refresh {
				t.Errorf("Refresh: got %v, want %v", got, tt.refresh)
			}
		})
	}
}

func TestTypedOrderAndRefundByOrder(t *testing.T) {
	t.Parallel()
	ev := track("Order Completed", nil)
	ev.Order = &eventv1.Order{OrderId: "o9", Items: []*eventv1.OrderItem{{ItemId: "c3", Category: "art", PriceMinor: 100}}}
	f := FromEvent("u", ev, DefaultWeights)
	want := []Signal{{Item: "c3", Kind: KindPurchase, Weight: 5, Owned: Set, Category: "art", PriceMinor: 100}}
	if f.OrderID != "o9" || !reflect.DeepEqual(f.Signals, want) {
		t.Errorf("typed order: got %q %+v, want o9 %+v", f.OrderID, f.Signals, want)
	}
	f = FromEvent("u", track("Order Refunded", map[string]any{"order_id": "o9"}), DefaultWeights)
	if !f.RefundOrder || f.OrderID != "o9" || !f.Refresh() {
		t.Errorf("refund naming only the order: got %+v, want RefundOrder of o9", f)
	}
	f = FromEvent("u", track("Recommendation Clicked", map[string]any{"variant": "ease"}), DefaultWeights)
	if !f.Clicked || f.Shown || f.Variant != "ease" {
		t.Errorf("click: got %+v, want a click of variant ease", f)
	}
}

func TestDecay(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name     string
		from, to time.Time
		halfLife time.Duration
		want     float64
	}{
		{"one half-life", t0, t0.Add(30 * day), 30 * day, 4},
		{"two half-lives", t0, t0.Add(60 * day), 30 * day, 2},
		{"no decay", t0, t0.Add(60 * day), 0, 8},
		{"from the future", t0.Add(day), t0, 30 * day, 8},
	}
	for _, tt := range tests {
		if got := Decay(8, tt.from, tt.to, tt.halfLife); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestInterestsFromTraits(t *testing.T) {
	t.Parallel()
	identify := func(traits map[string]any) *eventv1.Event {
		s, err := structpb.NewStruct(traits)
		if err != nil {
			t.Fatalf("traits: %v", err)
		}
		return &eventv1.Event{EventId: "i", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Traits: s, Timestamp: timestamppb.Now()}
	}
	tests := []struct {
		name string
		ev   *eventv1.Event
		want []string
	}{
		{"list", identify(map[string]any{"interests": []any{"经济学", " go ", "go", ""}}), []string{"经济学", "go"}},
		{"comma string", identify(map[string]any{"interests": "photography, 理财"}), []string{"photography", "理财"}},
		{"cleared", identify(map[string]any{"interests": []any{}}), []string{}},
		{"not stated", identify(map[string]any{"city_tier": "1"}), nil},
		{"track without traits", track("Product Viewed", map[string]any{"product_id": "c1"}), nil},
	}
	for _, tc := range tests {
		if got := FromEvent("u", tc.ev, DefaultWeights).Interests; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func TestFromAction(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		action  Action
		want    []Signal
		refresh bool
	}{
		{"click", ActionClick, []Signal{{Item: "c1", Kind: KindView, Weight: 2}}, false},
		{"like", ActionLike, []Signal{{Item: "c1", Kind: KindFavourite, Weight: 4, Negative: Clear}}, false},
		{"dismiss", ActionDismiss, []Signal{{Item: "c1", Kind: KindNone, Negative: Set}}, true},
		{"unknown", Action(0), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := FromAction("u1", "c1", tt.action, at, "fb1", DefaultWeights)
			if !reflect.DeepEqual(f.Signals, tt.want) {
				t.Errorf("signals: got %+v, want %+v", f.Signals, tt.want)
			}
			if f.User != "u1" || f.EventID != "fb1" || !f.Time.Equal(at) {
				t.Errorf("feedback: got user %q, id %q, time %v; want u1, fb1, %v", f.User, f.EventID, f.Time, at)
			}
			if got := f.Refresh(); got != tt.refresh {
				t.Errorf("Refresh: got %v, want %v", got, tt.refresh)
			}
		})
	}
}
