// Package signal turns behaviour events into implicit feedback: which items a user showed
// interest in, how strongly, and which items must never be recommended to them again.
//
// Weights (see [DefaultWeights]) grade the strength of interest of each event:
//
//	Product Viewed                      1
//	Lesson Started                      2
//	Lesson Completed                    3 + 2 × progress (0–1)
//	Product Added (cart add)            3
//	Item Favorited                      4
//	Order Completed (each item)         5, and the item is owned
//	Item Rated / Review Submitted ≥ 4   4, and clears a negative mark
//	Item Rated / Review Submitted = 3   1
//	Item Rated / Review Submitted ≤ 2   0, and the item is marked negative
//	Order Refunded (each item)          0, the item is marked negative and no longer owned
//	Feedback click on a recommendation  2
//	Feedback like                       4, and clears a negative mark
//	Feedback dismiss ("not interested") 0, and the item is marked negative
//
// Feedback actions (see [FromAction]) come from the recommendation service's Feedback
// API rather than from events; a click weighs more than a view because the user chose
// the item from a list, and a like weighs as a favourite.
// Lesson events also mark the item owned: a learner with lesson progress has access to it.
// Weights decay over time with a half-life chosen by the caller (see [Decay]); owned and
// negative items are excluded from a user's recommendations. Item ids are read from the
// typed order (Order Completed, Order Refunded), else from properties.item_id,
// properties.product_id or properties.products[].product_id/item_id.
//
// Functions are pure and safe for concurrent use.
package signal

import (
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// Kind is the kind of feedback, ordered by strength: a history keeps the strongest kind
// seen for an item, which picks the wording of a recommendation's reason.
type Kind uint8

// Kinds, weakest first.
const (
	KindNone Kind = iota
	KindView
	KindCart
	KindLessonStarted
	KindFavourite
	KindRatedPositive
	KindLessonCompleted
	KindPurchase
)

// Mark changes an item's owned or negative flag.
type Mark int8

// Marks.
const (
	Keep  Mark = 0
	Set   Mark = 1
	Clear Mark = -1
)

// Weights grade each kind of event.
type Weights struct {
	View, LessonStarted, LessonCompleted, LessonProgress, Cart, Favourite, Purchase, RatedPositive, RatedNeutral float64
	// Click and Like grade the Feedback API's actions.
	Click, Like float64
}

// DefaultWeights are the weights of the package doc.
var DefaultWeights = Weights{
	View: 1, LessonStarted: 2, LessonCompleted: 3, LessonProgress: 2, Cart: 3, Favourite: 4,
	Purchase: 5, RatedPositive: 4, RatedNeutral: 1, Click: 2, Like: 4,
}

// Signal is the feedback an event gives about one item.
type Signal struct {
	Item     string
	Kind     Kind
	Weight   float64
	Owned    Mark
	Negative Mark
	// Category, ItemType and PriceMinor are what the event says about the item, for items
	// the catalog does not know.
	Category   string
	ItemType   string
	PriceMinor int64
}

// Feedback is what one event tells the recommender.
type Feedback struct {
	User, EventID string
	Time          time.Time
	// OrderID is set on orders: the items of an Order Completed are remembered under it
	// for the post-purchase scene and for refunds that name only the order.
	OrderID string
	// RefundOrder is set on an Order Refunded that names no items: the caller refunds the
	// order's remembered items.
	RefundOrder bool
	Signals     []Signal
	// Variant, Shown and Clicked are set on Recommendation Shown and Recommendation
	// Clicked events, for per-variant click-through rates.
	Variant        string
	Shown, Clicked bool
	// Interests are the user's stated interests, from traits.interests (a list or a
	// comma-separated string) of an identify event or of any event carrying traits; nil
	// when the event does not state them.
	Interests []string
}

// Refresh reports whether the feedback should refresh the user's precomputed lists at
// once: a purchase or a negative signal changes what must not be shown.
func (f Feedback) Refresh() bool {
	if f.RefundOrder {
		return true
	}
	for _, s := range f.Signals {
		if s.Kind == KindPurchase || s.Negative == Set {
			return true
		}
	}
	return false
}

// FromEvent extracts the feedback of ev; user is the canonical user id (the message key).
// Events of other kinds give no signals.
func FromEvent(user string, ev *eventv1.Event, w Weights) Feedback {
	f := Feedback{User: user, EventID: ev.GetEventId(), Time: ev.GetTimestamp().AsTime()}
	f.Interests = interests(ev.GetTraits().GetFields()["interests"])
	if ev.GetType() != eventv1.EventType_EVENT_TYPE_TRACK {
		return f
	}
	props := ev.GetProperties().GetFields()
	one := func(kind Kind, weight float64, owned, negative Mark) {
		if id := itemID(props); id != "" {
			f.Signals = append(f.Signals, withMeta(Signal{Item: id, Kind: kind, Weight: weight, Owned: owned, Negative: negative}, props))
		}
	}
	switch ev.GetEvent() {
	case "Product Viewed":
		one(KindView, w.View, Keep, Keep)
	case "Product Added":
		one(KindCart, w.Cart, Keep, Keep)
	case "Item Favorited":
		one(KindFavourite, w.Favourite, Keep, Keep)
	case "Lesson Started":
		one(KindLessonStarted, w.LessonStarted, Set, Keep)
	case "Lesson Completed":
		progress := math.Max(0, math.Min(1, props["progress"].GetNumberValue()))
		one(KindLessonCompleted, w.LessonCompleted+w.LessonProgress*progress, Set, Keep)
	case "Item Rated", "Review Submitted":
		r, ok := props["rating"]
		if !ok {
			return f
		}
		switch v := r.GetNumberValue(); {
		case v >= 4:
			one(KindRatedPositive, w.RatedPositive, Keep, Clear)
		case v <= 2:
			one(KindNone, 0, Keep, Set)
		default:
			one(KindView, w.RatedNeutral, Keep, Keep)
		}
	case "Order Completed":
		f.OrderID = orderID(ev)
		for _, s := range orderItems(ev) {
			s.Kind, s.Weight, s.Owned = KindPurchase, w.Purchase, Set
			f.Signals = append(f.Signals, s)
		}
	case "Order Refunded":
		f.OrderID = orderID(ev)
		for _, s := range orderItems(ev) {
			s.Kind, s.Owned, s.Negative = KindNone, Clear, Set
			f.Signals = append(f.Signals, s)
		}
		f.RefundOrder = len(f.Signals) == 0 && f.OrderID != ""
	case "Recommendation Shown", "Recommendation Clicked":
		f.Variant = props["variant"].GetStringValue()
		f.Shown = ev.GetEvent() == "Recommendation Shown"
		f.Clicked = !f.Shown
	}
	return f
}

// Action is what a user did with a recommended item, as reported through the Feedback API.
type Action uint8

// Actions.
const (
	ActionClick Action = iota + 1
	ActionDismiss
	ActionLike
)

// FromAction returns the feedback of a user's action on an item at time at. eventID
// makes it idempotent: the store applies a feedback id once. An unknown action gives no
// signals.
func FromAction(user, item string, a Action, at time.Time, eventID string, w Weights) Feedback {
	f := Feedback{User: user, EventID: eventID, Time: at}
	switch a {
	case ActionClick:
		f.Signals = []Signal{{Item: item, Kind: KindView, Weight: w.Click}}
	case ActionLike:
		f.Signals = []Signal{{Item: item, Kind: KindFavourite, Weight: w.Like, Negative: Clear}}
	case ActionDismiss:
		f.Signals = []Signal{{Item: item, Kind: KindNone, Negative: Set}}
	}
	return f
}

// interests reads a list of strings or a comma-separated string; nil when v is neither.
func interests(v *structpb.Value) []string {
	var raw []string
	switch k := v.GetKind().(type) {
	case *structpb.Value_ListValue:
		for _, x := range k.ListValue.GetValues() {
			raw = append(raw, x.GetStringValue())
		}
	case *structpb.Value_StringValue:
		raw = strings.Split(k.StringValue, ",")
	default:
		return nil
	}
	out := []string{}
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func itemID(props map[string]*structpb.Value) string {
	for _, k := range []string{"item_id", "product_id"} {
		if id := props[k].GetStringValue(); id != "" {
			return id
		}
	}
	return ""
}

func withMeta(s Signal, props map[string]*structpb.Value) Signal {
	s.Category = props["category"].GetStringValue()
	s.ItemType = props["item_type"].GetStringValue()
	if p, ok := props["price_minor"]; ok {
		s.PriceMinor = int64(p.GetNumberValue())
	}
	return s
}

func orderID(ev *eventv1.Event) string {
	if id := ev.GetOrder().GetOrderId(); id != "" {
		return id
	}
	return ev.GetProperties().GetFields()["order_id"].GetStringValue()
}

// orderItems returns one signal per item of the order, from the typed order or else from
// properties.products.
func orderItems(ev *eventv1.Event) []Signal {
	var out []Signal
	seen := map[string]bool{}
	for _, it := range ev.GetOrder().GetItems() {
		if id := it.GetItemId(); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, Signal{Item: id, Category: it.GetCategory(), PriceMinor: it.GetPriceMinor()})
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, p := range ev.GetProperties().GetFields()["products"].GetListValue().GetValues() {
		props := p.GetStructValue().GetFields()
		if id := itemID(props); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, withMeta(Signal{Item: id}, props))
		}
	}
	return out
}

// Decay returns weight w recorded at time from, decayed to time to with the half-life:
// w·2^(−(to−from)/halfLife). A non-positive half-life disables decay; a from after to
// leaves w unchanged.
func Decay(w float64, from, to time.Time, halfLife time.Duration) float64 {
	if halfLife <= 0 || !to.After(from) {
		return w
	}
	return w * math.Exp2(-float64(to.Sub(from))/float64(halfLife))
}
