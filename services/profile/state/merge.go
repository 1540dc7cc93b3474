package state

import (
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// merge folds src, the profile of an id aliased into p (an anonymous history joining a
// user), into p. Apply calls it at most once per merged id (p.merged_ids records them), so
// an alias delivered again counts nothing twice. Counts and sums are added; a day active
// in both histories counts as one active day; traits, demographics and consent already
// known for p win over src's; revenue in another currency than p's is kept apart as
// unconverted. Sessions of both are added: a session that spanned the identification is
// counted in each history.
func (pr Params) merge(p, src *profilev1.Profile) {
	p.MergedIds = append(p.MergedIds, src.GetUserId())
	for _, id := range src.GetMergedIds() {
		if !slices.Contains(p.MergedIds, id) {
			p.MergedIds = append(p.MergedIds, id)
		}
	}
	for _, id := range src.GetAnonymousIds() {
		if id != p.GetUserId() && !slices.Contains(p.AnonymousIds, id) {
			p.AnonymousIds = append(p.AnonymousIds, id)
		}
	}
	if len(src.GetEventCounts()) > 0 && p.EventCounts == nil {
		p.EventCounts = map[string]int64{}
	}
	for k, v := range src.GetEventCounts() {
		p.EventCounts[k] += v
	}
	p.EventsTotal += src.GetEventsTotal()
	p.FirstSeen = minTime(p.FirstSeen, src.GetFirstSeen())
	p.LastSeen = maxTime(p.LastSeen, src.GetLastSeen())
	p.LastPurchase = maxTime(p.LastPurchase, src.GetLastPurchase())

	for k, v := range src.GetTraits().GetFields() {
		if p.Traits == nil {
			p.Traits = &structpb.Struct{}
		}
		if p.Traits.Fields == nil {
			p.Traits.Fields = map[string]*structpb.Value{}
		}
		if _, ok := p.Traits.Fields[k]; !ok {
			p.Traits.Fields[k] = proto.CloneOf(v)
		}
	}
	if sd := src.GetDemographics(); sd != nil {
		if p.Demographics == nil {
			p.Demographics = &profilev1.Demographics{}
		}
		d := p.Demographics
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&d.AgeBand, sd.GetAgeBand())
		fill(&d.Gender, sd.GetGender())
		fill(&d.Occupation, sd.GetOccupation())
		fill(&d.IncomeLevel, sd.GetIncomeLevel())
		fill(&d.CityTier, sd.GetCityTier())
		if len(d.Interests) == 0 {
			d.Interests = slices.Clone(sd.GetInterests())
		}
	}
	for ch, v := range src.GetConsent() {
		if _, ok := p.Consent[ch]; !ok {
			setConsent(p, ch, v)
		}
	}
	if p.Predictions == nil && src.GetPredictions() != nil {
		p.Predictions = proto.CloneOf(src.GetPredictions())
	}
	if p.GetLifecycle().GetReturnedAt() == nil && src.GetLifecycle().GetReturnedAt() != nil {
		if p.Lifecycle == nil {
			p.Lifecycle = &profilev1.Lifecycle{}
		}
		p.Lifecycle.ReturnedAt = timestamppb.New(src.GetLifecycle().GetReturnedAt().AsTime())
	}
	p.Interests = mergeInterests(p.Interests, src.GetInterests(), pr.InterestHalfLife)
	pr.mergeActivity(p, src)
	pr.prune(p, Day(p.GetLastSeen().AsTime()))
}

func (pr Params) mergeActivity(p, src *profilev1.Profile) {
	agg := aggregates(p)
	sagg := src.GetAggregates()
	if agg.Currency == "" {
		agg.Currency = sagg.GetCurrency()
	}
	sameCurrency := sagg.GetCurrency() == "" || sagg.GetCurrency() == agg.Currency
	a, sa := activity(p), src.GetActivity()
	unconverted := func(currency string, v int64) {
		if v == 0 {
			return
		}
		if a.UnconvertedRevenueMinor == nil {
			a.UnconvertedRevenueMinor = map[string]int64{}
		}
		a.UnconvertedRevenueMinor[currency] += v
	}
	strip := func(w *profilev1.Window) *profilev1.Window {
		w = proto.CloneOf(w)
		if w == nil {
			w = &profilev1.Window{}
		}
		if !sameCurrency {
			w.RevenueMinor, w.RefundMinor = 0, 0
		}
		return w
	}

	var overlap int64
	for _, sb := range sa.GetDays() {
		b := bucket(a, sb.GetDay())
		both := b.Counts.ActiveDays > 0 && sb.GetCounts().GetActiveDays() > 0
		addWindow(b.Counts, strip(sb.GetCounts()))
		if both {
			overlap++
			b.Counts.ActiveDays = 1
		}
	}
	lt := strip(sagg.GetLifetime())
	lt.ActiveDays -= overlap
	addWindow(agg.Lifetime, lt)
	if !sameCurrency {
		unconverted(sagg.GetCurrency(), sagg.GetLifetime().GetRevenueMinor())
	}
	for _, sp := range sa.GetPurchases() {
		d := purchaseDay(a, sp.GetDay())
		d.Orders += sp.GetOrders()
		if sameCurrency {
			d.RevenueMinor += sp.GetRevenueMinor()
		}
	}
	for c, v := range sa.GetUnconvertedRevenueMinor() {
		unconverted(c, v)
	}
	a.LastActive = maxTime(a.LastActive, sa.GetLastActive())
	for _, h := range sa.GetRecentEvents() {
		if !slices.Contains(a.RecentEvents, h) {
			a.RecentEvents = append(a.RecentEvents, h)
		}
	}
	if n := len(a.RecentEvents) - pr.RecentEvents; n > 0 {
		a.RecentEvents = slices.Delete(a.RecentEvents, 0, n)
	}
}

func minTime(a, b *timestamppb.Timestamp) *timestamppb.Timestamp {
	switch {
	case b == nil:
		return a
	case a == nil || b.AsTime().Before(a.AsTime()):
		return timestamppb.New(b.AsTime())
	}
	return a
}

func maxTime(a, b *timestamppb.Timestamp) *timestamppb.Timestamp {
	switch {
	case b == nil:
		return a
	case a == nil || b.AsTime().After(a.AsTime()):
		return timestamppb.New(b.AsTime())
	}
	return a
}
