package state

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Day is the UTC day of t: days since 1970-01-01.
func Day(t time.Time) int32 {
	return int32(math.Floor(float64(t.Unix()) / 86400))
}

// isActivity reports whether ev is something the user did (track, page, screen), as
// opposed to what is known about them (identify, alias, group).
func isActivity(ev *eventv1.Event) bool {
	switch ev.GetType() {
	case eventv1.EventType_EVENT_TYPE_TRACK, eventv1.EventType_EVENT_TYPE_PAGE, eventv1.EventType_EVENT_TYPE_SCREEN:
		return true
	}
	return false
}

// applyActivity adds ev to the lifetime window, its day's bucket, the purchases, sessions
// and interests. p.LastSeen already includes ev.
func (pr Params) applyActivity(p *profilev1.Profile, ev *eventv1.Event) {
	agg := aggregates(p)
	kind := CountKey(ev)
	props := ev.GetProperties().GetFields()
	delta := &profilev1.Window{Events: 1}
	switch kind {
	case "page", "screen", EventProductViewed:
		delta.Views = 1
	case EventLessonStarted:
		delta.LessonsStarted = 1
	case EventLessonCompleted:
		delta.LessonsCompleted = 1
		delta.LearningMinutes = minutes(props)
	case EventItemFavorited:
		delta.Favorites = 1
	case EventProductAdded:
		delta.CartAdds = 1
	case EventItemRated:
		if r, ok := number(props, "rating", "score", "stars"); ok && r >= 1 && r <= 5 {
			delta.RatingsCount, delta.RatingsSum = 1, r
		}
	case EventOrderCompleted, EventOrderRefunded:
		amount, currency := pr.amount(ev)
		if agg.Currency == "" {
			agg.Currency = currency
		}
		if kind == EventOrderRefunded {
			amount = -amount
			delta.Refunds = 1
		} else {
			delta.Orders = 1
		}
		if currency == agg.Currency {
			delta.RevenueMinor = amount
			if amount < 0 {
				delta.RefundMinor = -amount
			}
		} else if amount != 0 {
			a := activity(p)
			if a.UnconvertedRevenueMinor == nil {
				a.UnconvertedRevenueMinor = map[string]int64{}
			}
			a.UnconvertedRevenueMinor[currency] += amount
		}
	}

	ts := ev.GetTimestamp()
	if ts == nil {
		addWindow(agg.Lifetime, delta)
		return
	}
	t := ts.AsTime()
	d := Day(t)
	hw := Day(p.GetLastSeen().AsTime())
	if isActivity(ev) {
		a := activity(p)
		if a.LastActive == nil || t.Sub(a.LastActive.AsTime()) > pr.SessionGap {
			delta.Sessions = 1
		}
		if a.LastActive != nil && t.Sub(a.LastActive.AsTime()) > pr.ReturnGap {
			if p.Lifecycle == nil {
				p.Lifecycle = &profilev1.Lifecycle{}
			}
			p.Lifecycle.ReturnedAt = timestamppb.New(t)
		}
		if a.LastActive == nil || t.After(a.LastActive.AsTime()) {
			setTime(&a.LastActive, t)
		}
	}
	if d > hw-int32(pr.BucketDays) {
		b := bucket(activity(p), d)
		if isActivity(ev) && b.Counts.ActiveDays == 0 {
			delta.ActiveDays = 1
		}
		addWindow(b.Counts, delta)
	}
	addWindow(agg.Lifetime, delta)

	if kind == EventOrderCompleted {
		if p.LastPurchase == nil || t.After(p.LastPurchase.AsTime()) {
			setTime(&p.LastPurchase, t)
		}
	}
	if (delta.Orders != 0 || delta.RevenueMinor != 0) && d > hw-int32(pr.PurchaseDays) {
		pd := purchaseDay(activity(p), d)
		pd.Orders += delta.Orders
		pd.RevenueMinor += delta.RevenueMinor
	}
	if w := pr.interestWeight(kind, delta); w > 0 {
		cats, tags := interestKeys(ev)
		pr.addInterest(p, t, cats, tags, w)
	}
	pr.prune(p, hw)
}

// prune drops buckets and purchase days older than the horizons before day hw.
func (pr Params) prune(p *profilev1.Profile, hw int32) {
	a := p.GetActivity()
	if a == nil {
		return
	}
	a.Days = slices.DeleteFunc(a.Days, func(b *profilev1.DayBucket) bool { return b.GetDay() <= hw-int32(pr.BucketDays) })
	a.Purchases = slices.DeleteFunc(a.Purchases, func(d *profilev1.PurchaseDay) bool { return d.GetDay() <= hw-int32(pr.PurchaseDays) })
}

// bucket returns a's bucket for day d, inserting it in day order.
func bucket(a *profilev1.Activity, d int32) *profilev1.DayBucket {
	i, found := slices.BinarySearchFunc(a.Days, d, func(b *profilev1.DayBucket, d int32) int { return cmpInt(b.GetDay(), d) })
	if !found {
		a.Days = slices.Insert(a.Days, i, &profilev1.DayBucket{Day: d, Counts: &profilev1.Window{}})
	}
	if a.Days[i].Counts == nil {
		a.Days[i].Counts = &profilev1.Window{}
	}
	return a.Days[i]
}

func purchaseDay(a *profilev1.Activity, d int32) *profilev1.PurchaseDay {
	i, found := slices.BinarySearchFunc(a.Purchases, d, func(p *profilev1.PurchaseDay, d int32) int { return cmpInt(p.GetDay(), d) })
	if !found {
		a.Purchases = slices.Insert(a.Purchases, i, &profilev1.PurchaseDay{Day: d})
	}
	return a.Purchases[i]
}

func cmpInt(a, b int32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addWindow adds src's counts to dst. rating_mean is derived, not added.
func addWindow(dst, src *profilev1.Window) {
	dst.Views += src.GetViews()
	dst.LessonsStarted += src.GetLessonsStarted()
	dst.LessonsCompleted += src.GetLessonsCompleted()
	dst.LearningMinutes += src.GetLearningMinutes()
	dst.Favorites += src.GetFavorites()
	dst.CartAdds += src.GetCartAdds()
	dst.Orders += src.GetOrders()
	dst.RevenueMinor += src.GetRevenueMinor()
	dst.Refunds += src.GetRefunds()
	dst.RefundMinor += src.GetRefundMinor()
	dst.RatingsCount += src.GetRatingsCount()
	dst.RatingsSum += src.GetRatingsSum()
	dst.ActiveDays += src.GetActiveDays()
	dst.Sessions += src.GetSessions()
	dst.Events += src.GetEvents()
}

// minutes reads the learning time of a Lesson Completed event: minutes, or seconds / 60.
func minutes(props map[string]*structpb.Value) float64 {
	m, ok := number(props, "minutes", "learning_minutes", "duration_minutes")
	if !ok {
		s, ok := number(props, "duration_seconds", "seconds")
		if !ok {
			return 0
		}
		m = s / 60
	}
	// A day is the most one lesson can take; anything else is a client bug.
	return min(max(m, 0), 24*60)
}

// amount returns the revenue of an order event in minor units, and its currency: the
// typed Order when set, else properties revenue (or total, value), in major units.
func (pr Params) amount(ev *eventv1.Event) (int64, string) {
	props := ev.GetProperties().GetFields()
	currency, _ := text(props, "currency")
	if o := ev.GetOrder(); o != nil {
		if o.GetCurrency() != "" {
			currency = o.GetCurrency()
		}
		currency = normCurrency(currency, pr.DefaultCurrency)
		rev := o.GetRevenueMinor()
		if rev == 0 {
			for _, it := range o.GetItems() {
				rev += it.GetPriceMinor() * int64(max(it.GetQuantity(), 1))
			}
		}
		if rev != 0 || len(o.GetItems()) > 0 {
			return rev, currency
		}
	}
	currency = normCurrency(currency, pr.DefaultCurrency)
	v, ok := number(props, "revenue", "total", "value", "amount")
	if !ok || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, currency
	}
	return int64(math.Round(v * math.Pow10(MinorUnits(currency)))), currency
}

func normCurrency(c, def string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if len(c) != 3 {
		return def
	}
	return c
}

// MinorUnits is the number of decimals of an ISO 4217 currency: 0 for yen-like
// currencies, 3 for the dinars, 2 otherwise.
func MinorUnits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

func parseNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v, err == nil
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
