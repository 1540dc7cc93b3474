package state

import (
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// minInterest is the weight below which an interest is dropped, so that the maps stay
// bounded: a weight of 1 falls below it after about ten half-lives.
const minInterest = 1e-3

// interestWeight is the weight ev adds to its categories and tags.
func (pr Params) interestWeight(kind string, delta *profilev1.Window) float64 {
	w := pr.InterestWeights[kind]
	if kind == EventItemRated {
		// A 5 counts fully, a 3 a third, a 1 or 2 not at all.
		if delta.GetRatingsCount() == 0 || delta.GetRatingsSum() < 3 {
			return 0
		}
		w *= (delta.GetRatingsSum() - 2) / 3
	}
	return w
}

// interestKeys reads the categories and tags an event is about: properties category and
// tags (a list or a comma-separated string), and the categories of order items or
// properties products.
func interestKeys(ev *eventv1.Event) (cats, tags []string) {
	props := ev.GetProperties().GetFields()
	add := func(dst []string, s string) []string {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			return dst
		}
		for _, x := range dst {
			if x == s {
				return dst
			}
		}
		return append(dst, s)
	}
	if c, ok := text(props, "category"); ok {
		cats = add(cats, c)
	}
	if cs, ok := stringList(props, "categories"); ok {
		for _, c := range cs {
			cats = add(cats, c)
		}
	}
	if ts, ok := stringList(props, "tags"); ok {
		for _, t := range ts {
			tags = add(tags, t)
		}
	}
	for _, it := range ev.GetOrder().GetItems() {
		cats = add(cats, it.GetCategory())
	}
	for _, v := range props["products"].GetListValue().GetValues() {
		if c, ok := text(v.GetStructValue().GetFields(), "category"); ok {
			cats = add(cats, c)
		}
	}
	return cats, tags
}

// decay is the factor a weight keeps after dt with half-life h.
func decay(dt, h time.Duration) float64 {
	if dt <= 0 {
		return 1
	}
	return math.Exp2(-dt.Seconds() / h.Seconds())
}

// addInterest adds w, earned at t, to the categories and tags. Weights are held decayed to
// Interests.as_of: a later t moves as_of forward, an earlier one adds a decayed weight.
func (pr Params) addInterest(p *profilev1.Profile, t time.Time, cats, tags []string, w float64) {
	if len(cats) == 0 && len(tags) == 0 {
		return
	}
	in := p.Interests
	if in == nil {
		in = &profilev1.Interests{AsOf: timestamppb.New(t)}
		p.Interests = in
	}
	if in.AsOf == nil {
		in.AsOf = timestamppb.New(t)
	}
	ref := in.AsOf.AsTime()
	if t.After(ref) {
		DecayInterests(in, t, pr.InterestHalfLife)
	} else {
		w *= decay(ref.Sub(t), pr.InterestHalfLife)
	}
	if len(cats) > 0 && in.Categories == nil {
		in.Categories = map[string]float64{}
	}
	if len(tags) > 0 && in.Tags == nil {
		in.Tags = map[string]float64{}
	}
	for _, c := range cats {
		in.Categories[c] += w
	}
	for _, tg := range tags {
		in.Tags[tg] += w
	}
}

// DecayInterests decays the weights of in to asOf (when later than in.as_of) and drops
// the ones that became negligible.
func DecayInterests(in *profilev1.Interests, asOf time.Time, halfLife time.Duration) {
	if in == nil || in.AsOf == nil || !asOf.After(in.AsOf.AsTime()) {
		return
	}
	f := decay(asOf.Sub(in.AsOf.AsTime()), halfLife)
	for _, m := range []map[string]float64{in.Categories, in.Tags} {
		for k, v := range m {
			if v *= f; v < minInterest {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
	}
	setTime(&in.AsOf, asOf)
}

// mergeInterests adds src's weights into dst, aligned to the later as_of.
func mergeInterests(dst, src *profilev1.Interests, halfLife time.Duration) *profilev1.Interests {
	if src == nil || src.AsOf == nil {
		return dst
	}
	if dst == nil || dst.AsOf == nil {
		return cloneInterests(src)
	}
	src = cloneInterests(src)
	if src.AsOf.AsTime().After(dst.AsOf.AsTime()) {
		DecayInterests(dst, src.AsOf.AsTime(), halfLife)
	} else {
		DecayInterests(src, dst.AsOf.AsTime(), halfLife)
	}
	for _, pair := range [][2]*map[string]float64{{&dst.Categories, &src.Categories}, {&dst.Tags, &src.Tags}} {
		d, s := pair[0], pair[1]
		if len(*s) > 0 && *d == nil {
			*d = map[string]float64{}
		}
		for k, v := range *s {
			(*d)[k] += v
		}
	}
	return dst
}

func cloneInterests(in *profilev1.Interests) *profilev1.Interests {
	out := &profilev1.Interests{AsOf: timestamppb.New(in.GetAsOf().AsTime())}
	if len(in.GetCategories()) > 0 {
		out.Categories = make(map[string]float64, len(in.GetCategories()))
		for k, v := range in.GetCategories() {
			out.Categories[k] = v
		}
	}
	if len(in.GetTags()) > 0 {
		out.Tags = make(map[string]float64, len(in.GetTags()))
		for k, v := range in.GetTags() {
			out.Tags[k] = v
		}
	}
	return out
}
