package world

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/stratahq/strata/services/strata/sink"
)

const (
	day = 24 * time.Hour
	// localOffset is China Standard Time: days and hours of behaviour are local.
	localOffset = 8 * time.Hour
	// warmUp is how long existing users are simulated, silently, before the window, so
	// they enter it with purchases, habits and subscriptions under way.
	warmUp = 60 * day
	// subscriptionPeriod is the billing period of memberships.
	subscriptionPeriod = 30 * day
)

// Weights of the local hour of day at which sessions start: commute, lunch, evening.
var hourWeights = []float64{0.5, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 2.0, 1.2, 0.9, 1.0, 1.6, 1.4, 0.9, 0.8, 0.9, 1.0, 1.3, 1.8, 2.4, 2.6, 2.0, 1.2}

// Weekly seasonality: sessions per local weekday (Sunday first) against the mean.
var weekdayFactor = [7]float64{1.25, 0.9, 0.95, 1.0, 1.0, 0.9, 1.2}

// festivals are the shopping festivals of the Chinese calendar that lift buying: 618
// and Double 11, with the three days before each.
var festivals = []struct {
	month  time.Month
	day    int
	coupon string
}{
	{time.June, 18, "FEST618"},
	{time.November, 11, "FEST1111"},
}

var (
	appContext = map[string]any{"name": "Strata Demo", "version": "3.4.0"}
	zone       = "Asia/Shanghai"
	// serverContext is the context of what the platform's back end reports (billing,
	// support, refunds) rather than the user's app.
	serverContext = map[string]any{"channel": "server"}
)

type ownership struct {
	done                      int
	refunded, finished, rated bool
}

type subscription struct {
	id       string
	item     int
	next     time.Time
	renewals int
}

// sim is one user's simulation; it is confined to one goroutine.
type sim struct {
	w          *World
	cat        *catalog
	rng        *rand.Rand
	u          User
	start, end time.Time
	msgs       []sink.Message
	ctx        map[string]any
	device     map[string]any

	owned    map[int]*ownership
	learning []int // items being learned, in purchase order
	favs     map[int]bool
	bought   []int // categories bought from, for interest updates

	sat                      float64
	churned                  bool
	activeSince, reactivated time.Time
	identified               bool
	lastIdentify, nextNPS    time.Time
	firstOrder               bool
	sub                      *subscription

	sessions, orders, tickets, subs, reviews int
}

// simulate runs user i through the window and returns their messages in time order.
func (w *World) simulate(i int) []sink.Message {
	rng := newRand(w.cfg.Seed, streamUser, uint64(i))
	u := w.newUser(rng, i)
	s := &sim{
		w: w, cat: w.cat, rng: rng, u: u,
		start: w.cfg.start(), end: w.cfg.End,
		device: map[string]any{"type": u.Device},
		owned:  map[int]*ownership{}, favs: map[int]bool{},
		sat:         0.4 * rng.NormFloat64(),
		activeSince: u.SignupAt,
		nextNPS:     u.SignupAt.Add(30 * day),
	}
	s.run()
	return s.finish()
}

func (s *sim) run() {
	from := s.u.SignupAt
	if s.u.Existing {
		from = maxTime(from, s.start.Add(-warmUp))
	} else {
		s.session(s.u.SignupAt) // onboarding: identify, then a first look around
	}
	// Days are local days; a new user's first is the day after the signup's.
	first := localDay(from)
	if !s.u.Existing {
		first = first.Add(day)
	}
	for d := first; d.Before(s.end); d = d.Add(day) {
		s.sat *= 0.995
		if s.churned {
			p := 0.002
			if s.festival(d) != "" {
				p = 0.01
			}
			if s.rng.Float64() >= p {
				continue
			}
			s.churned = false
			s.activeSince, s.reactivated = d, d
			s.sat = math.Max(s.sat, 0)
		} else if s.rng.Float64() < s.hazard(d) {
			s.churned = true
			if s.sub != nil {
				s.cancel(d.Add(s.hourOfDay()), "not_using")
			}
			continue
		}
		s.renew(d)
		n := poisson(s.rng, s.sessionRate(d))
		if !s.reactivated.IsZero() && s.reactivated.Equal(d) {
			n = max(n, 1)
		}
		times := make([]time.Time, n)
		for k := range times {
			times[k] = d.Add(s.hourOfDay())
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		for _, t := range times {
			s.session(t)
		}
	}
}

// localDay returns the start of t's local day, in UTC.
func localDay(t time.Time) time.Time {
	return t.Add(localOffset).Truncate(day).Add(-localOffset)
}

func (s *sim) hourOfDay() time.Duration {
	h := weighted(s.rng, hourWeights)
	return time.Duration(h)*time.Hour + time.Duration(s.rng.Int64N(int64(time.Hour)))
}

// age is the days since the user (re)activated.
func (s *sim) age(t time.Time) float64 { return t.Sub(s.activeSince).Hours() / 24 }

// sessionRate is the expected sessions on day d: the user's activity, weekly
// seasonality, an onboarding boost that fades over the first weeks, habit decay and
// the pull of a membership or a festival.
func (s *sim) sessionRate(d time.Time) float64 {
	age := s.age(d)
	r := s.u.Activity / 7 * weekdayFactor[d.Add(localOffset).Weekday()]
	r *= 1 + 1.5*math.Exp(-age/10)
	r *= 0.35 + 0.65*math.Exp(-age/s.u.HabitDays)
	if s.sub != nil {
		r *= 1.25
	}
	if s.festival(d) != "" {
		r *= 1.3
	}
	return r
}

// hazard is the chance of churning on day d: higher in the first weeks and for
// dissatisfied users, lower for members.
func (s *sim) hazard(d time.Time) float64 {
	h := s.u.ChurnHazard * math.Exp(-0.8*s.sat) * (1 + 2*math.Exp(-s.age(d)/14))
	if s.sub != nil {
		h *= 0.7
	}
	return h
}

// festival returns the coupon of the festival t falls in, or "".
func (s *sim) festival(t time.Time) string {
	lt := t.Add(localOffset)
	for _, f := range festivals {
		fd := time.Date(lt.Year(), f.month, f.day, 0, 0, 0, 0, time.UTC)
		if d := fd.Sub(lt.Truncate(day)); d >= 0 && d <= 3*day {
			return f.coupon
		}
	}
	return ""
}

func (s *sim) newSession() {
	s.sessions++
	s.ctx = map[string]any{
		"session_id": fmt.Sprintf("%s-s%d", s.u.ID, s.sessions),
		"device":     s.device,
		"app":        appContext,
		"locale":     s.u.Locale,
		"timezone":   zone,
	}
}

// session simulates one visit starting at t: identify when due, learning what the user
// owns, browsing, buying, and the odd survey or support ticket.
func (s *sim) session(t time.Time) {
	s.newSession()
	if !s.identified && !t.Before(s.start) {
		s.identify(t)
		t = t.Add(time.Second)
	} else if t.Sub(s.lastIdentify) > 60*day && s.rng.Float64() < 0.5 {
		s.refreshInterests()
		s.identify(t)
		t = t.Add(time.Second)
	}
	learn := len(s.learning) > 0 && s.rng.Float64() < 0.65
	if learn {
		t = s.learn(t)
	}
	if !learn || s.rng.Float64() < 0.4 {
		t = s.browse(t)
	}
	if !t.Before(s.nextNPS) {
		s.nextNPS = s.nextNPS.Add(90 * day)
		if s.rng.Float64() < 0.35 {
			score := clampInt(math.Round(7+1.8*s.sat+1.6*s.rng.NormFloat64()), 0, 10)
			s.track(t.Add(30*time.Second), "Survey Answered", map[string]any{"survey": "nps", "score": score})
		}
	}
	if s.rng.Float64() < 0.006 {
		s.ticket(t, pick(s.rng, ticketTopics), "")
	}
}

func (s *sim) identify(t time.Time) {
	if !t.Before(s.start) {
		s.identified = true
	}
	s.lastIdentify = t
	s.add(sink.Message{Type: "identify", Timestamp: t, Traits: s.u.traits(s.u.SignupAt)})
}

// refreshInterests adds the category the user bought most from, keeping at most four.
func (s *sim) refreshInterests() {
	if len(s.bought) == 0 {
		return
	}
	counts := map[int]int{}
	best := s.bought[0]
	for _, c := range s.bought {
		counts[c]++
		if counts[c] > counts[best] {
			best = c
		}
	}
	slug := categories[best].slug
	if !slices.Contains(s.u.Interests, slug) {
		s.u.Interests = append(s.u.Interests, slug)
		if len(s.u.Interests) > 4 {
			s.u.Interests = s.u.Interests[1:]
		}
	}
}

// fit is how well an item suits the user: 1 for an average category of average tags in
// the user's language, more for favourite ones.
func (s *sim) fit(idx int) float64 {
	it := &s.cat.items[idx]
	catFit := math.Min(s.u.CategoryAffinity[it.cat]*numCategories, 3)
	return math.Sqrt(catFit) * (0.6 + s.tagFit(it)) / 0.85 * s.langFit(it)
}

func (s *sim) tagFit(it *item) float64 {
	sum := 0.0
	for _, t := range it.tags {
		sum += s.u.TagAffinity[t]
	}
	return sum / float64(len(it.tags))
}

func (s *sim) langFit(it *item) float64 {
	switch {
	case it.en == (s.u.Locale == "en"):
		return 1
	case it.en:
		return 0.4
	default:
		return 0.6
	}
}

// pickItem draws what the user looks at: a category by the user's affinity, an item
// of it by appeal, kept with a chance that grows with tag and language fit.
func (s *sim) pickItem() int {
	for range 4 {
		cat := weighted(s.rng, s.u.CategoryAffinity)
		idx := -1
		for range 8 {
			idx = s.cat.sample(s.rng, cat)
			if idx < 0 {
				break
			}
			it := &s.cat.items[idx]
			if s.rng.Float64() < (0.4+s.tagFit(it))/1.4*s.langFit(it) {
				break
			}
		}
		if idx >= 0 {
			return idx
		}
	}
	return -1
}

func (s *sim) learn(t time.Time) time.Time {
	k := len(s.learning) - 1
	if s.rng.Float64() >= 0.6 {
		k = s.rng.IntN(len(s.learning))
	}
	idx := s.learning[k]
	it := &s.cat.items[idx]
	o := s.owned[idx]
	fit := s.fit(idx)
	for range 1 + poisson(s.rng, 0.8) {
		if o.done >= it.lessons {
			break
		}
		lesson := o.done + 1
		props := map[string]any{
			"item_id":       it.ItemID,
			"lesson_id":     fmt.Sprintf("%s-l%d", it.ItemID, lesson),
			"lesson_number": lesson,
			"item_type":     itemTypes[it.typ].slug,
			"category":      it.Category,
		}
		s.track(t, "Lesson Started", props)
		pc := sigmoid(1.0 + 0.8*it.quality + 0.8*(fit-1) + 0.5*s.sat)
		if s.rng.Float64() >= pc {
			t = t.Add(minutes(float64(it.minutes) * (0.1 + 0.4*s.rng.Float64())))
			break
		}
		spent := float64(it.minutes) * (0.7 + 0.45*s.rng.Float64())
		t = t.Add(minutes(spent))
		o.done++
		done := maps.Clone(props)
		done["progress"] = math.Round(float64(o.done)/float64(it.lessons)*1000) / 1000
		done["minutes"] = math.Round(spent*10) / 10
		s.track(t, "Lesson Completed", done)
		s.sat += 0.01 * it.quality
		t = t.Add(time.Duration(5+s.rng.IntN(55)) * time.Second)
		// Some rate what they are learning well before the end.
		if !o.rated && o.done*3 >= it.lessons && o.done < it.lessons && s.rng.Float64() < 0.08 {
			t = s.rate(t, idx, fit)
		}
	}
	if o.done >= it.lessons {
		o.finished = true
		s.learning = slices.Delete(s.learning, k, k+1)
		if !o.rated && s.rng.Float64() < 0.55 {
			t = s.rate(t, idx, fit)
		}
	}
	return t
}

// rate has the user rate item idx, and sometimes review it.
func (s *sim) rate(t time.Time, idx int, fit float64) time.Time {
	it := &s.cat.items[idx]
	if o := s.owned[idx]; o != nil {
		o.rated = true
	}
	r := clampInt(math.Round(3.2+0.9*it.quality+0.8*clamp(fit-1, -1, 1)+0.3*s.sat+0.8*s.rng.NormFloat64()), 1, 5)
	t = t.Add(20 * time.Second)
	s.track(t, "Item Rated", map[string]any{"item_id": it.ItemID, "rating": r, "category": it.Category})
	s.sat += 0.1 * float64(r-3)
	p := 0.25
	if r <= 2 || r == 5 {
		p = 0.5
	}
	if s.rng.Float64() < p {
		s.reviews++
		sentiment := 1
		switch {
		case r <= 2:
			sentiment = 0
		case r >= 4:
			sentiment = 2
		}
		body, lang := fmt.Sprintf(pick(s.rng, reviewsZH[sentiment]), it.Title), "zh-CN"
		if s.u.Locale == "en" {
			body, lang = fmt.Sprintf(pick(s.rng, reviewsEN[sentiment]), it.Title), "en"
		}
		t = t.Add(time.Duration(30+s.rng.IntN(240)) * time.Second)
		s.track(t, "Review Submitted", map[string]any{
			"review_id": fmt.Sprintf("%s-r%d", s.u.ID, s.reviews), "item_id": it.ItemID,
			"rating": r, "review_body": body, "language": lang,
		})
	}
	return t
}

func (s *sim) browse(t time.Time) time.Time {
	var cart []int
	onboarding := 1 + 0.5*math.Exp(-s.age(t)/10)
	fest := 1.0
	if s.festival(t) != "" {
		fest = 1.8
	}
	for range 1 + poisson(s.rng, 1.5) {
		idx := s.pickItem()
		if idx < 0 || slices.Contains(cart, idx) {
			continue
		}
		if s.owned[idx] != nil && s.rng.Float64() < 0.8 {
			continue
		}
		it := &s.cat.items[idx]
		s.track(t, "Product Viewed", s.product(it, false))
		t = t.Add(time.Duration(20+s.rng.IntN(160)) * time.Second)
		fit := s.fit(idx)
		if !s.favs[idx] && s.rng.Float64() < math.Min(0.3, 0.05*fit) {
			s.favs[idx] = true
			s.track(t, "Item Favorited", map[string]any{"item_id": it.ItemID, "category": it.Category})
			t = t.Add(5 * time.Second)
		}
		if s.owned[idx] != nil {
			continue
		}
		pAdd := 0.08 * fit * s.priceFactor(it) * fest * onboarding
		if s.rng.Float64() < math.Min(0.6, pAdd) {
			cart = append(cart, idx)
			s.track(t, "Product Added", s.product(it, true))
			t = t.Add(time.Duration(10+s.rng.IntN(50)) * time.Second)
		}
	}
	// Now and then a membership of a favourite category is on offer.
	if s.sub == nil && s.rng.Float64() < 0.03 {
		cat := weighted(s.rng, s.u.CategoryAffinity)
		if ms := s.cat.members[cat]; len(ms) > 0 {
			idx := pick(s.rng, ms)
			it := &s.cat.items[idx]
			s.track(t, "Product Viewed", s.product(it, false))
			t = t.Add(time.Duration(20+s.rng.IntN(100)) * time.Second)
			if s.rng.Float64() < math.Min(0.6, 0.25*s.fit(idx)*s.priceFactor(it)) {
				cart = append(cart, idx)
				s.track(t, "Product Added", s.product(it, true))
				t = t.Add(20 * time.Second)
			}
		}
	}
	if len(cart) > 0 && s.rng.Float64() < 0.65-0.15*s.u.PriceSensitivity+0.15*(fest-1) {
		t = s.order(t, cart)
	}
	return t
}

// priceFactor is how the price puts the user off: dearer items (against their type)
// weigh more with price-sensitive users.
func (s *sim) priceFactor(it *item) float64 {
	return clamp(math.Pow(it.priceRel, -1.5*s.u.PriceSensitivity), 0.2, 2.5)
}

func (s *sim) product(it *item, added bool) map[string]any {
	p := map[string]any{
		"product_id":  it.ItemID,
		"name":        it.Title,
		"category":    it.Category,
		"item_type":   itemTypes[it.typ].slug,
		"price":       major(it.PriceMinor),
		"price_minor": it.PriceMinor,
		"currency":    it.Currency,
	}
	if added {
		p["quantity"] = 1
		p["cart_id"] = fmt.Sprintf("%s-s%d", s.u.ID, s.sessions)
	}
	return p
}

func (s *sim) order(t time.Time, cart []int) time.Time {
	s.orders++
	orderID := fmt.Sprintf("%s-o%d", s.u.ID, s.orders)
	var subtotal int64
	products := make([]map[string]any, len(cart))
	hasMembership := false
	for k, idx := range cart {
		it := &s.cat.items[idx]
		subtotal += it.PriceMinor
		products[k] = s.product(it, false)
		products[k]["quantity"] = 1
		hasMembership = hasMembership || it.typ == membershipType
	}
	coupon, pct := s.coupon(t, hasMembership)
	discount := int64(math.Round(float64(subtotal) * pct))
	revenue := subtotal - discount
	props := map[string]any{
		"order_id":       orderID,
		"products":       products,
		"subtotal":       major(subtotal),
		"discount":       major(discount),
		"revenue":        major(revenue),
		"total":          major(revenue),
		"subtotal_minor": subtotal,
		"discount_minor": discount,
		"revenue_minor":  revenue,
		"currency":       "CNY",
	}
	if coupon != "" {
		props["coupon"] = coupon
	}
	t = t.Add(time.Duration(30+s.rng.IntN(90)) * time.Second)
	s.track(t, "Order Completed", props)
	s.firstOrder = true

	minQuality, minFit := math.Inf(1), math.Inf(1)
	for _, idx := range cart {
		it := &s.cat.items[idx]
		s.owned[idx] = &ownership{}
		s.bought = append(s.bought, it.cat)
		if it.typ == membershipType {
			s.subscribe(t.Add(time.Second), idx, orderID)
		} else {
			s.learning = append(s.learning, idx)
		}
		minQuality = math.Min(minQuality, it.quality)
		minFit = math.Min(minFit, s.fit(idx))
	}
	if s.rng.Float64() < 0.05 {
		score := clampInt(math.Round(5.3+0.4*s.sat+s.rng.NormFloat64()), 1, 7)
		s.track(t.Add(2*time.Minute), "Survey Answered", map[string]any{"survey": "ces", "score": score, "order_id": orderID})
	}
	pRefund := 0.02 + 0.03*s.u.PriceSensitivity
	if minQuality < -0.8 {
		pRefund += 0.1
	}
	if minFit < 0.6 {
		pRefund += 0.04
	}
	if s.rng.Float64() < pRefund {
		s.refund(t.Add(time.Duration(2+s.rng.IntN(142))*time.Hour), cart, props)
	}
	return t
}

// coupon picks the order's coupon, if any, and its discount.
func (s *sim) coupon(t time.Time, membership bool) (string, float64) {
	r := s.rng.Float64()
	switch {
	case s.festival(t) != "" && r < 0.8:
		return s.festival(t), 0.25
	case !s.reactivated.IsZero() && t.Sub(s.reactivated) < 14*day && r < 0.7:
		return "WELCOMEBACK30", 0.3
	case !s.firstOrder && !s.u.Existing && r < 0.7:
		return "NEWUSER20", 0.2
	case s.sub != nil && !membership && r < 0.6:
		return "MEMBER15", 0.15
	case r < 0.35*s.u.PriceSensitivity:
		return "SAVE10", 0.1
	}
	return "", 0
}

func (s *sim) refund(t time.Time, cart []int, order map[string]any) {
	if s.rng.Float64() < 0.5 {
		s.ticket(t.Add(-time.Duration(10+s.rng.IntN(110))*time.Minute), "refund", order["order_id"].(string))
	}
	reason := pick(s.rng, []string{"not_as_described", "too_difficult", "changed_mind", "quality"})
	s.serverTrack(t, "Order Refunded", map[string]any{
		"order_id":      order["order_id"],
		"products":      order["products"],
		"revenue":       order["revenue"],
		"revenue_minor": order["revenue_minor"],
		"currency":      order["currency"],
		"reason":        reason,
	})
	s.sat -= 0.3
	for _, idx := range cart {
		s.owned[idx].refunded = true
		if k := slices.Index(s.learning, idx); k >= 0 {
			s.learning = slices.Delete(s.learning, k, k+1)
		}
		if s.sub != nil && s.sub.item == idx {
			s.cancel(t.Add(time.Second), "refunded")
		}
		if !s.owned[idx].rated && s.rng.Float64() < 0.4 {
			s.rate(t, idx, math.Min(s.fit(idx), 0.5))
		}
	}
}

func (s *sim) ticket(t time.Time, topic, orderID string) {
	s.tickets++
	id := fmt.Sprintf("%s-t%d", s.u.ID, s.tickets)
	props := map[string]any{"ticket_id": id, "topic": topic, "channel": pick(s.rng, []string{"in_app", "wechat", "phone"})}
	if orderID != "" {
		props["order_id"] = orderID
	}
	s.track(t, "Support Ticket Opened", props)
	hours := 0.2 + s.rng.ExpFloat64()*10
	resolved := t.Add(time.Duration(hours * float64(time.Hour)))
	s.serverTrack(resolved, "Support Ticket Resolved", map[string]any{"ticket_id": id, "topic": topic, "resolution_hours": math.Round(hours*10) / 10})
	s.sat -= 0.2
	if hours < 4 {
		s.sat += 0.1
	}
	if s.rng.Float64() < 0.45 {
		score := clampInt(math.Round(3.8+0.5*s.sat-0.02*hours+0.8*s.rng.NormFloat64()), 1, 5)
		s.serverTrack(resolved.Add(time.Duration(5+s.rng.IntN(115))*time.Minute), "Survey Answered", map[string]any{"survey": "csat", "score": score, "ticket_id": id})
	}
}

func (s *sim) subscribe(t time.Time, idx int, orderID string) {
	s.subs++
	it := &s.cat.items[idx]
	s.sub = &subscription{id: fmt.Sprintf("%s-sub%d", s.u.ID, s.subs), item: idx, next: t.Add(subscriptionPeriod)}
	s.track(t, "Subscription Started", map[string]any{
		"subscription_id": s.sub.id, "plan_id": it.ItemID, "plan": "monthly", "period_days": 30,
		"price": major(it.PriceMinor), "price_minor": it.PriceMinor, "currency": it.Currency,
		"category": it.Category, "order_id": orderID,
	})
}

// renew bills the subscriptions that fall due on day d, or cancels them.
func (s *sim) renew(d time.Time) {
	for s.sub != nil && s.sub.next.Before(d.Add(day)) {
		it := &s.cat.items[s.sub.item]
		if s.rng.Float64() >= clamp(0.8+0.1*s.sat-0.1*s.u.PriceSensitivity, 0.3, 0.97) {
			reason := "not_using"
			if s.u.PriceSensitivity > 0.6 {
				reason = "price"
			}
			s.cancel(s.sub.next, reason)
			return
		}
		s.sub.renewals++
		s.serverTrack(s.sub.next, "Subscription Renewed", map[string]any{
			"subscription_id": s.sub.id, "plan_id": it.ItemID, "renewal_number": s.sub.renewals,
			"revenue": major(it.PriceMinor), "revenue_minor": it.PriceMinor, "currency": it.Currency,
		})
		s.sub.next = s.sub.next.Add(subscriptionPeriod)
	}
}

func (s *sim) cancel(t time.Time, reason string) {
	if s.sub == nil {
		return
	}
	s.serverTrack(t, "Subscription Cancelled", map[string]any{
		"subscription_id": s.sub.id, "plan_id": s.cat.items[s.sub.item].ItemID,
		"renewals": s.sub.renewals, "reason": reason,
	})
	s.sub = nil
}

func (s *sim) track(t time.Time, event string, props map[string]any) {
	s.add(sink.Message{Type: "track", Event: event, Timestamp: t, Properties: props})
}

// serverTrack records an event the platform reports on the user's behalf.
func (s *sim) serverTrack(t time.Time, event string, props map[string]any) {
	s.msgs = append(s.msgs, sink.Message{
		Type: "track", Event: event, UserID: s.u.ID, Context: serverContext, Properties: props,
		Timestamp: t.UTC().Truncate(time.Millisecond),
	})
}

func (s *sim) add(m sink.Message) {
	m.UserID, m.AnonymousID, m.Context = s.u.ID, s.u.AnonymousID, s.ctx
	m.Timestamp = m.Timestamp.UTC().Truncate(time.Millisecond)
	s.msgs = append(s.msgs, m)
}

// finish keeps what falls in the window, in time order, and numbers the messages.
func (s *sim) finish() []sink.Message {
	out := s.msgs[:0]
	for _, m := range s.msgs {
		if !m.Timestamp.Before(s.start) && m.Timestamp.Before(s.end) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Timestamp.Before(out[b].Timestamp) })
	for k := range out {
		out[k].MessageID = fmt.Sprintf("w%d-%s-%d", s.w.cfg.Seed, s.u.ID, k+1)
	}
	return slices.Clip(out)
}

func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func clampInt(x float64, lo, hi int) int { return int(clamp(x, float64(lo), float64(hi))) }

// major is an amount in minor units as a decimal of major units (Segment's revenue).
func major(minor int64) float64 { return float64(minor) / 100 }

func minutes(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
