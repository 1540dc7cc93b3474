package state

import (
	"time"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/rfm"
)

// Lifecycle stages.
const (
	StageNew         = "new"
	StageActive      = "active"
	StageEngaged     = "engaged"
	StageAtRisk      = "at_risk"
	StageDormant     = "dormant"
	StageChurned     = "churned"
	StageReactivated = "reactivated"
)

// Value tiers.
const (
	ValueProspect = "prospect"
	ValueLapsed   = "lapsed"
	ValueUnscored = "unscored"
	ValueLow      = "low"
	ValueMedium   = "medium"
	ValueHigh     = "high"
	ValueVIP      = "vip"
)

// LifecycleRules are the thresholds of the lifecycle stages. With days_inactive the whole
// days from last_seen to as_of, the first matching rule names the stage:
//
//  1. churned: days_inactive > ChurnedAfterDays (default 90);
//  2. dormant: days_inactive > DormantAfterDays (default 45);
//  3. at_risk: days_inactive > AtRiskAfterDays (default 14);
//  4. new: first_seen within NewDays (default 14) of as_of;
//  5. reactivated: the user came back after an absence longer than the fold's
//     Params.ReturnGap (default 45 days, the dormancy threshold) within ReactivatedDays
//     (default 30);
//  6. engaged: in the last 30 days, at least EngagedActiveDays active days (default 8) or
//     EngagedMinutes learning minutes (default 120);
//  7. active otherwise.
//
// A profile without any event has no stage. Zero fields take the defaults.
type LifecycleRules struct {
	NewDays           int
	AtRiskAfterDays   int
	DormantAfterDays  int
	ChurnedAfterDays  int
	ReactivatedDays   int
	EngagedActiveDays int
	EngagedMinutes    float64
}

// WithDefaults returns l with zero fields set to their defaults.
func (l LifecycleRules) WithDefaults() LifecycleRules {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.NewDays, 14)
	def(&l.AtRiskAfterDays, 14)
	def(&l.DormantAfterDays, 45)
	def(&l.ChurnedAfterDays, 90)
	def(&l.ReactivatedDays, 30)
	def(&l.EngagedActiveDays, 8)
	if l.EngagedMinutes <= 0 {
		l.EngagedMinutes = 120
	}
	return l
}

// Deriver computes a profile's time-relative fields. Zero fields take their defaults.
type Deriver struct {
	Params    Params
	Lifecycle LifecycleRules
	// Tiers is the RFM tier table; default rfm.Standard.
	Tiers []rfm.Rule
}

// Derive sets p's derived fields as of asOf: the d7, d30 and d90 windows, rating means,
// interest weights decayed to asOf (when later than theirs), RFM values, scores (with
// boundaries b, which may be nil: unscored) and tier, value tier and lifecycle stage.
// Derive is idempotent for a given asOf and b.
func (d Deriver) Derive(p *profilev1.Profile, asOf time.Time, b *profilev1.RfmBoundaries) {
	pr := d.Params.WithDefaults()
	lc := d.Lifecycle.WithDefaults()
	tiers := d.Tiers
	if tiers == nil {
		tiers = rfm.Standard
	}
	setTime(&p.AsOf, asOf)
	agg := aggregates(p)
	asDay := Day(asOf)
	agg.D7 = windowSum(agg.D7, p.GetActivity().GetDays(), asDay, 7)
	agg.D30 = windowSum(agg.D30, p.GetActivity().GetDays(), asDay, 30)
	agg.D90 = windowSum(agg.D90, p.GetActivity().GetDays(), asDay, 90)
	for _, w := range []*profilev1.Window{agg.D7, agg.D30, agg.D90, agg.Lifetime} {
		w.RatingMean = 0
		if w.RatingsCount > 0 {
			w.RatingMean = w.RatingsSum / float64(w.RatingsCount)
		}
	}
	DecayInterests(p.Interests, asOf, pr.InterestHalfLife)

	v, purchased := RFMValues(p, asOf)
	r := &profilev1.Rfm{RecencyDays: -1}
	if purchased {
		r.RecencyDays = int32(v.RecencyDays)
		r.Frequency, r.MonetaryMinor = v.Frequency, v.Monetary
		r.R, r.F, r.M = rfm.Score(v, b)
		r.Score = rfm.ScoreString(r.R, r.F, r.M)
		r.Tier = rfm.Tier(tiers, r.R, r.F, r.M)
		r.BoundariesVersion = b.GetVersion()
	}
	p.Rfm = r
	p.ValueTier = valueTier(r, purchased)

	if p.Lifecycle == nil {
		p.Lifecycle = &profilev1.Lifecycle{}
	}
	p.Lifecycle.Stage, p.Lifecycle.DaysInactive = lc.stage(p, asOf)
}

// windowSum sums the buckets of the n days ending with day asDay into w (reset first;
// allocated when nil) and returns it: Derive runs on every change, and reusing the
// profile's own windows saves three allocations a time.
func windowSum(w *profilev1.Window, days []*profilev1.DayBucket, asDay int32, n int32) *profilev1.Window {
	if w == nil {
		w = &profilev1.Window{}
	} else {
		w.Reset()
	}
	for _, b := range days {
		if d := b.GetDay(); d > asDay-n && d <= asDay {
			addWindow(w, b.GetCounts())
		}
	}
	return w
}

// RFMValues returns p's RFM values as of asOf, and false when p never purchased.
func RFMValues(p *profilev1.Profile, asOf time.Time) (rfm.Values, bool) {
	if p.GetLastPurchase() == nil {
		return rfm.Values{}, false
	}
	asDay := Day(asOf)
	v := rfm.Values{RecencyDays: max(int64(asDay-Day(p.GetLastPurchase().AsTime())), 0)}
	for _, d := range p.GetActivity().GetPurchases() {
		if day := d.GetDay(); day > asDay-365 && day <= asDay {
			v.Frequency += d.GetOrders()
			v.Monetary += d.GetRevenueMinor()
		}
	}
	return v, true
}

func valueTier(r *profilev1.Rfm, purchased bool) string {
	switch {
	case !purchased:
		return ValueProspect
	case r.GetFrequency() == 0:
		return ValueLapsed
	case r.GetM() == 0:
		return ValueUnscored
	case r.GetM() == 5:
		return ValueVIP
	case r.GetM() == 4:
		return ValueHigh
	case r.GetM() == 3:
		return ValueMedium
	}
	return ValueLow
}

func (l LifecycleRules) stage(p *profilev1.Profile, asOf time.Time) (string, int32) {
	if p.GetLastSeen() == nil {
		return "", 0
	}
	inactive := max(int(asOf.Sub(p.GetLastSeen().AsTime())/day), 0)
	within := func(ts interface{ AsTime() time.Time }, days int) bool {
		return asOf.Sub(ts.AsTime()) <= time.Duration(days)*day
	}
	d30 := p.GetAggregates().GetD30()
	switch {
	case inactive > l.ChurnedAfterDays:
		return StageChurned, int32(inactive)
	case inactive > l.DormantAfterDays:
		return StageDormant, int32(inactive)
	case inactive > l.AtRiskAfterDays:
		return StageAtRisk, int32(inactive)
	case p.GetFirstSeen() != nil && within(p.GetFirstSeen(), l.NewDays):
		return StageNew, int32(inactive)
	case p.GetLifecycle().GetReturnedAt() != nil && within(p.GetLifecycle().GetReturnedAt(), l.ReactivatedDays):
		return StageReactivated, int32(inactive)
	case d30.GetActiveDays() >= int64(l.EngagedActiveDays) || d30.GetLearningMinutes() >= l.EngagedMinutes:
		return StageEngaged, int32(inactive)
	}
	return StageActive, int32(inactive)
}
