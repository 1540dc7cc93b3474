// Package features turns a user's behaviour events into the numeric feature vector the
// prediction models read. It is the only feature code of the service: training replays
// history through [State.Apply] and reads [State.Vector] at a cutoff, online scoring
// applies live events to the same State and reads the vector at the scoring time, so
// training and serving cannot drift apart (no train/serve skew).
//
// Point-in-time correctness: [State.Vector] reads only events strictly before asOf,
// whatever else the State holds, so a State that has seen the future still yields the
// features as they were at the cutoff. [BuildTrainingSet] builds labelled examples by
// replaying events: features from events before the cutoff, labels from the horizon
// after it.
//
// A State is not safe for concurrent use; callers keep one per user and serialise its
// use (the service does so per partition).
package features

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/clv"
)

// OrderCompleted is the Segment e-commerce event that counts as a purchase.
const OrderCompleted = "Order Completed"

// Feature indexes into a vector; Names gives their names in the same order.
const (
	DaysSinceFirstOrder = iota
	DaysSinceLastOrder
	OrderDays
	OrderDays30
	OrderDays90
	OrderDays180
	Orders
	RevenueTotal
	RevenuePerOrderDay
	RevenueLastOrderDay
	ItemsTotal
	ItemsPerOrderDay
	MeanDaysBetweenOrders
	OrderOverdueRatio
	TenureDays
	DaysSinceLastEvent
	Events30
	ActiveDays30
	EventsTotal
	// RepeatRate30 is repeat order days per 30 days since the first order, and
	// RecencyShare the share of that time the orders span (last-order age relative to
	// customer age, as BG/NBD's P(alive) reads them): ratios a tree cannot form from
	// the counts and ages on its own. Appended so that older artefacts' indexes stay.
	RepeatRate30
	RecencyShare
	// Count is the length of a feature vector.
	Count
)

// Names are the feature names, indexed by the constants above. They are API: model
// artefacts record them, and explanations show them.
var Names = [Count]string{
	"days_since_first_order", "days_since_last_order", "order_days", "order_days_30d", "order_days_90d",
	"order_days_180d", "orders", "revenue_total", "revenue_per_order_day", "revenue_last_order_day",
	"items_total", "items_per_order_day", "mean_days_between_orders", "order_overdue_ratio",
	"tenure_days", "days_since_last_event", "events_30d", "active_days_30d", "events_total",
	"repeat_rate_30d", "recency_share",
}

// Describe returns a short phrase for people about a feature's value, such as
// "12 days since the last order".
func Describe(feature int, v float64) string {
	n := func(f string) string { return formatNumber(v) + " " + f }
	switch feature {
	case DaysSinceFirstOrder:
		return n("days since the first order")
	case DaysSinceLastOrder:
		return n("days since the last order")
	case OrderDays:
		return n("days with an order")
	case OrderDays30:
		return n("days with an order in the last 30 days")
	case OrderDays90:
		return n("days with an order in the last 90 days")
	case OrderDays180:
		return n("days with an order in the last 180 days")
	case Orders:
		return n("orders")
	case RevenueTotal:
		return formatNumber(v) + " spent in total"
	case RevenuePerOrderDay:
		return formatNumber(v) + " spent per order day"
	case RevenueLastOrderDay:
		return formatNumber(v) + " spent on the last order day"
	case ItemsTotal:
		return n("items bought")
	case ItemsPerOrderDay:
		return n("items per order day")
	case MeanDaysBetweenOrders:
		return n("days between orders on average")
	case OrderOverdueRatio:
		return "the next order " + formatNumber(v) + "× the usual gap away"
	case TenureDays:
		return n("days since first seen")
	case DaysSinceLastEvent:
		return n("days since the last activity")
	case Events30:
		return n("events in the last 30 days")
	case ActiveDays30:
		return n("active days in the last 30 days")
	case EventsTotal:
		return n("events in total")
	case RepeatRate30:
		return n("repeat order days per 30 days")
	case RecencyShare:
		return "orders spanning " + formatNumber(v*100) + "% of the time since the first"
	}
	return "unknown feature"
}

func formatNumber(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

type order struct {
	at      int64 // unix seconds
	revenue float64
	items   int64
	cats    []string // categories of the order's items, normalised, distinct
}

type activity struct {
	at   int64    // unix seconds
	id   string   // event id, to apply each event once
	cats []string // categories a non-order event is about (views, lessons, ratings…)
}

// State is what the features need to remember of one user's events.
type State struct {
	orders   []order    // sorted by at
	events   []activity // sorted by at; every event, orders included
	currency string     // of the latest order that named one
}

// Currency returns the ISO 4217 code of the latest order that named one, or "".
func (s *State) Currency() string { return s.currency }

// Apply records an event and reports whether it was new. Events may arrive out of
// order; the State keeps them sorted. An event whose non-empty event id the State
// already holds (at the same timestamp) is ignored, so redelivery and replay change
// nothing.
func (s *State) Apply(e *eventv1.Event) bool {
	at := e.GetTimestamp().AsTime().Unix()
	id := e.GetEventId()
	if id != "" && s.has(at, id) {
		return false
	}
	cats := Categories(e)
	if e.GetEvent() != OrderCompleted {
		insertSorted(&s.events, activity{at: at, id: id, cats: cats}, func(a activity) int64 { return a.at })
		return true
	}
	insertSorted(&s.events, activity{at: at, id: id}, func(a activity) int64 { return a.at })
	o := order{at: at, cats: cats}
	if ord := e.GetOrder(); ord != nil {
		o.revenue = float64(ord.GetRevenueMinor()) / 100
		if c := ord.GetCurrency(); c != "" {
			s.currency = c
		}
		for _, it := range ord.GetItems() {
			o.items += int64(max(it.GetQuantity(), 0))
		}
	} else if rev, ok := e.GetProperties().GetFields()["revenue"]; ok {
		o.revenue = rev.GetNumberValue()
	}
	insertSorted(&s.orders, o, func(o order) int64 { return o.at })
	return true
}

// Categories returns the catalog categories an event is about, lower-cased, trimmed and
// distinct, in order of appearance: the categories of its order items and of its
// properties products[], and its properties category and categories — where the
// Segment e-commerce spec and the profile service's interest weights read them.
func Categories(e *eventv1.Event) []string {
	var cats []string
	add := func(c string) {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && !slices.Contains(cats, c) {
			cats = append(cats, c)
		}
	}
	for _, it := range e.GetOrder().GetItems() {
		add(it.GetCategory())
	}
	props := e.GetProperties().GetFields()
	for _, v := range props["products"].GetListValue().GetValues() {
		add(v.GetStructValue().GetFields()["category"].GetStringValue())
	}
	add(props["category"].GetStringValue())
	for _, v := range props["categories"].GetListValue().GetValues() {
		add(v.GetStringValue())
	}
	return cats
}

// CategoryEvent is one dated event's categories.
type CategoryEvent struct {
	At         time.Time
	Categories []string
}

// CategoryOrders returns the orders before asOf that name categories, oldest first.
// The slices are shared with the State: callers must not modify them.
func (s *State) CategoryOrders(asOf time.Time) []CategoryEvent {
	return categoryEvents(s.orders, asOf, func(o order) (int64, []string) { return o.at, o.cats })
}

// CategoryOrdersBetween returns the orders in [from, to) that name categories.
func (s *State) CategoryOrdersBetween(from, to time.Time) []CategoryEvent {
	all := s.CategoryOrders(to)
	i, _ := slices.BinarySearchFunc(all, from, func(e CategoryEvent, t time.Time) int { return e.At.Compare(t) })
	return all[i:]
}

// CategoryInteractions returns the non-order events before asOf that name categories
// (views, lessons, favourites, ratings…), oldest first; the slices are shared.
func (s *State) CategoryInteractions(asOf time.Time) []CategoryEvent {
	return categoryEvents(s.events, asOf, func(a activity) (int64, []string) { return a.at, a.cats })
}

// categoryEvents lists the elements of xs (sorted by time) before asOf that name
// categories.
func categoryEvents[T any](xs []T, asOf time.Time, get func(T) (int64, []string)) []CategoryEvent {
	cut := asOf.Unix()
	var out []CategoryEvent
	for _, x := range xs {
		at, cats := get(x)
		if at >= cut {
			break
		}
		if len(cats) > 0 {
			out = append(out, CategoryEvent{At: time.Unix(at, 0).UTC(), Categories: cats})
		}
	}
	return out
}

// has reports whether an event with this id and timestamp was applied.
func (s *State) has(at int64, id string) bool {
	i, _ := slices.BinarySearchFunc(s.events, at, func(a activity, at int64) int {
		if a.at < at {
			return -1
		}
		if a.at > at {
			return 1
		}
		return 0
	})
	for ; i < len(s.events) && s.events[i].at == at; i++ {
		if s.events[i].id == id {
			return true
		}
	}
	return false
}

func insertSorted[T any](xs *[]T, v T, key func(T) int64) {
	k := key(v)
	s := *xs
	if n := len(s); n == 0 || key(s[n-1]) <= k {
		*xs = append(s, v)
		return
	}
	i, _ := slices.BinarySearchFunc(s, k, func(e T, k int64) int {
		switch ek := key(e); {
		case ek <= k:
			return -1
		default:
			return 1
		}
	})
	*xs = slices.Insert(s, i, v)
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	return &State{orders: slices.Clone(s.orders), events: slices.Clone(s.events), currency: s.currency}
}

// FirstEvent returns the time of the earliest event.
func (s *State) FirstEvent() (time.Time, bool) {
	if len(s.events) == 0 {
		return time.Time{}, false
	}
	return time.Unix(s.events[0].at, 0).UTC(), true
}

// Empty reports whether the state holds no event before asOf.
func (s *State) Empty(asOf time.Time) bool {
	return len(s.events) == 0 || s.events[0].at >= asOf.Unix()
}

// Purchases returns the orders before asOf as CLV purchases.
func (s *State) Purchases(asOf time.Time) []clv.Purchase {
	cut := asOf.Unix()
	var out []clv.Purchase
	for _, o := range s.orders {
		if o.at >= cut {
			break
		}
		out = append(out, clv.Purchase{Time: time.Unix(o.at, 0).UTC(), Amount: o.revenue})
	}
	return out
}

// OrdersBetween counts the orders in [from, to).
func (s *State) OrdersBetween(from, to time.Time) int {
	lo, hi := from.Unix(), to.Unix()
	n := 0
	for _, o := range s.orders {
		if o.at >= lo && o.at < hi {
			n++
		}
	}
	return n
}

// EventsBetween counts the events in [from, to).
func (s *State) EventsBetween(from, to time.Time) int {
	lo, hi := from.Unix(), to.Unix()
	n := 0
	for _, e := range s.events {
		if e.at >= lo && e.at < hi {
			n++
		}
	}
	return n
}

const secondsPerDay = 86400

// Vector returns the features as of asOf, from events strictly before it. A user
// without orders gets zeros for the order features.
func (s *State) Vector(asOf time.Time) []float64 {
	v := make([]float64, Count)
	s.fill(v, asOf)
	return v
}

func (s *State) fill(v []float64, asOf time.Time) {
	cut := asOf.Unix()
	today := floorDiv(cut, secondsPerDay)
	daysAgo := func(at int64) float64 { return float64(today - floorDiv(at, secondsPerDay)) }

	var (
		lastDay                          int64 = math.MinInt64
		firstAt, lastAt                  int64
		orderDays, d30, d90, d180, count float64
		revenue, items, lastDayRevenue   float64
	)
	for _, o := range s.orders {
		if o.at >= cut {
			break
		}
		if count == 0 {
			firstAt = o.at
		}
		lastAt = o.at
		count++
		revenue += o.revenue
		items += float64(o.items)
		day := floorDiv(o.at, secondsPerDay)
		if day != lastDay {
			orderDays++
			ago := today - day
			if ago < 30 {
				d30++
			}
			if ago < 90 {
				d90++
			}
			if ago < 180 {
				d180++
			}
			lastDay = day
			lastDayRevenue = 0
		}
		lastDayRevenue += o.revenue
	}
	if count > 0 {
		v[DaysSinceFirstOrder] = daysAgo(firstAt)
		v[DaysSinceLastOrder] = daysAgo(lastAt)
		v[OrderDays] = orderDays
		v[OrderDays30], v[OrderDays90], v[OrderDays180] = d30, d90, d180
		v[Orders] = count
		v[RevenueTotal] = revenue
		v[RevenuePerOrderDay] = revenue / orderDays
		v[RevenueLastOrderDay] = lastDayRevenue
		v[ItemsTotal] = items
		v[ItemsPerOrderDay] = items / orderDays
		if age := v[DaysSinceFirstOrder]; age > 0 {
			v[RepeatRate30] = (orderDays - 1) * 30 / age
			v[RecencyShare] = (age - v[DaysSinceLastOrder]) / age
		}
		if orderDays > 1 {
			gap := (v[DaysSinceFirstOrder] - v[DaysSinceLastOrder]) / (orderDays - 1)
			v[MeanDaysBetweenOrders] = gap
			v[OrderOverdueRatio] = v[DaysSinceLastOrder] / max(gap, 1)
		}
	}
	var (
		n, n30, active30 float64
		firstEv, lastEv  int64
		lastActive       int64 = math.MinInt64
	)
	for _, e := range s.events {
		if e.at >= cut {
			break
		}
		if n == 0 {
			firstEv = e.at
		}
		lastEv = e.at
		n++
		day := floorDiv(e.at, secondsPerDay)
		if today-day < 30 {
			n30++
			if day != lastActive {
				active30++
				lastActive = day
			}
		}
	}
	if n > 0 {
		v[TenureDays] = daysAgo(firstEv)
		v[DaysSinceLastEvent] = daysAgo(lastEv)
		v[Events30], v[ActiveDays30], v[EventsTotal] = n30, active30, n
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// PurchaseMonotone is the direction in which each feature can only move purchase
// propensity, for learners that take monotone constraints: more recent and more
// frequent buying never lowers it, a longer silence never raises it. Constraining the
// trees this way keeps them from fitting noise on small data. Zero leaves a feature
// free.
var PurchaseMonotone = [Count]int8{
	DaysSinceLastOrder: -1,
	OrderDays:          1,
	OrderDays30:        1,
	OrderDays90:        1,
	OrderDays180:       1,
	Orders:             1,
	OrderOverdueRatio:  -1,
	DaysSinceLastEvent: -1,
	Events30:           1,
	ActiveDays30:       1,
	EventsTotal:        1,
	RepeatRate30:       1,
	RecencyShare:       1,
}
