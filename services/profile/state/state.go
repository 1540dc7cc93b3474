// Package state folds behaviour events into a user's profile and derives the time-relative
// fields from it. It is pure: no I/O and no clock, so replaying the same events in the same
// order gives the same profile, and deriving it as of the same time gives the same
// windows, tiers and stages.
//
// # Folding (event time)
//
// [Params.Apply] folds one event. Everything it records depends on the event alone and
// its timestamp (event time), never on when it is processed:
//   - lifetime counts (Aggregates.lifetime) and per-event-name counts;
//   - daily buckets (Activity.days), one per UTC day with activity, kept for the latest
//     [Params.BucketDays] days before the latest event seen (last_seen); older buckets are
//     dropped, and a late event older than that horizon only counts in lifetime;
//   - daily purchase totals (Activity.purchases) kept for [Params.PurchaseDays] days, for
//     RFM's 365-day frequency and monetary values;
//   - sessions: an activity event (track, page, screen) later than the previous one by
//     more than [Params.SessionGap] starts a session; an out-of-order event never does;
//   - active days: a day counts once, when its bucket first records activity;
//   - interest weights per category and tag, decayed with [Params.InterestHalfLife] in
//     event time;
//   - the time of the last return after an absence longer than [Params.ReturnGap].
//
// # Deriving (as of a time)
//
// [Deriver.Derive] computes, as of a given time, the 7/30/90-day windows (the 7, 30 or 90
// UTC calendar days ending with that time's day, summed from the buckets), the decayed
// interest weights, RFM values, scores and tier, the lifecycle stage and the value tier.
// The profile service derives as of processing time when it writes a profile and as of
// request time when it serves one, so windows stay right as time passes without events.
//
// # Idempotency
//
// A profile records the Kafka position of the last event it applied; Apply ignores an
// event at or before that position on the same partition, so a redelivery after a crash or
// a rebalance counts nothing twice. It also keeps hashes of the latest event ids and drops
// an event whose id it saw recently: without an idempotent producer, a retried write can
// store one event at two offsets.
package state

import (
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Paid-knowledge and Segment e-commerce event names the fold understands.
const (
	EventProductViewed   = "Product Viewed"
	EventProductAdded    = "Product Added"
	EventOrderCompleted  = "Order Completed"
	EventOrderRefunded   = "Order Refunded"
	EventLessonStarted   = "Lesson Started"
	EventLessonCompleted = "Lesson Completed"
	EventItemFavorited   = "Item Favorited"
	EventItemRated       = "Item Rated"
	EventConsentUpdated  = "Consent Updated"
)

// Params configure the fold. The zero value of a field takes its default.
type Params struct {
	// SessionGap is the inactivity that ends a session; default 30 minutes.
	SessionGap time.Duration
	// InterestHalfLife is the half-life of interest weights; default 30 days.
	InterestHalfLife time.Duration
	// ReturnGap is the absence after which activity counts as a return (lifecycle stage
	// "reactivated"); default 45 days, the default dormancy threshold.
	ReturnGap time.Duration
	// BucketDays is how many days of daily buckets are kept; default 90, the longest
	// window. Windows longer than BucketDays are undercounted.
	BucketDays int
	// PurchaseDays is how many days of daily purchase totals are kept; default 366, RFM's
	// year plus today.
	PurchaseDays int
	// DefaultCurrency is the currency of revenue that names none; default "CNY".
	DefaultCurrency string
	// InterestWeights is the weight an event adds to its item's category and tags, by
	// event name ("page" and "screen" for those calls); default DefaultInterestWeights.
	InterestWeights map[string]float64
	// RecentEvents is how many event-id hashes are kept to drop duplicates; default 32.
	RecentEvents int
}

// DefaultInterestWeights weigh interactions by the intent they show.
var DefaultInterestWeights = map[string]float64{
	EventProductViewed:   1,
	"page":               0.5,
	"screen":             0.5,
	EventLessonStarted:   2,
	EventLessonCompleted: 3,
	EventItemFavorited:   3,
	EventItemRated:       2,
	EventProductAdded:    4,
	EventOrderCompleted:  5,
}

// DefaultParams returns the default fold parameters.
func DefaultParams() Params { return Params{}.WithDefaults() }

// WithDefaults returns p with zero fields set to their defaults.
func (pr Params) WithDefaults() Params {
	if pr.SessionGap <= 0 {
		pr.SessionGap = 30 * time.Minute
	}
	if pr.InterestHalfLife <= 0 {
		pr.InterestHalfLife = 30 * day
	}
	if pr.ReturnGap <= 0 {
		pr.ReturnGap = 45 * day
	}
	if pr.BucketDays <= 0 {
		pr.BucketDays = 90
	}
	if pr.PurchaseDays <= 0 {
		pr.PurchaseDays = 366
	}
	if pr.DefaultCurrency == "" {
		pr.DefaultCurrency = "CNY"
	}
	if pr.InterestWeights == nil {
		pr.InterestWeights = DefaultInterestWeights
	}
	if pr.RecentEvents <= 0 {
		pr.RecentEvents = 32
	}
	return pr
}

const day = 24 * time.Hour

// Applied reports whether the event at pos was already applied to p.
func Applied(p *profilev1.Profile, pos *profilev1.Position) bool {
	return appliedAt(p.GetApplied(), pos)
}

func appliedAt(a, pos *profilev1.Position) bool {
	return a != nil && a.GetPartition() == pos.GetPartition() && pos.GetOffset() <= a.GetOffset()
}

// Apply folds ev with the default parameters; see [Params.Apply].
func Apply(p *profilev1.Profile, userID string, ev *eventv1.Event, pos *profilev1.Position) (*profilev1.Profile, bool) {
	return DefaultParams().Apply(p, userID, ev, pos, nil)
}

// Apply folds ev, read at pos, into p (which may be nil for a new user) and returns the
// profile and whether it changed. For an alias event whose previous_id names another
// profile, merged is that profile (nil when it does not exist): its history is merged in
// once (see [Params.Merge]). Apply does not derive: call [Deriver.Derive] after it.
func (pr Params) Apply(p *profilev1.Profile, userID string, ev *eventv1.Event, pos *profilev1.Position, merged *profilev1.Profile) (*profilev1.Profile, bool) {
	pr = pr.WithDefaults()
	if p == nil {
		p = &profilev1.Profile{UserId: userID}
	}
	if Applied(p, pos) {
		return p, false
	}
	if id := ev.GetEventId(); id != "" && pr.seen(p, id) {
		// The same event stored again at another offset: count nothing.
		return p, false
	}
	if p.EventCounts == nil {
		p.EventCounts = map[string]int64{}
	}
	p.EventCounts[CountKey(ev)]++
	p.EventsTotal++

	ts := ev.GetTimestamp()
	if ts != nil {
		t := ts.AsTime()
		if p.FirstSeen == nil || t.Before(p.FirstSeen.AsTime()) {
			setTime(&p.FirstSeen, t)
		}
		if p.LastSeen == nil || t.After(p.LastSeen.AsTime()) {
			setTime(&p.LastSeen, t)
		}
	}
	if anon := ev.GetAnonymousId(); anon != "" && anon != p.GetUserId() && !slices.Contains(p.AnonymousIds, anon) {
		p.AnonymousIds = append(p.AnonymousIds, anon)
	}
	switch ev.GetType() {
	case eventv1.EventType_EVENT_TYPE_IDENTIFY:
		applyTraits(p, ev.GetTraits())
	case eventv1.EventType_EVENT_TYPE_TRACK:
		if ev.GetEvent() == EventConsentUpdated {
			applyConsentEvent(p, ev.GetProperties())
		}
	case eventv1.EventType_EVENT_TYPE_ALIAS:
		if prev := ev.GetPreviousId(); merged != nil && prev != "" && prev != p.GetUserId() &&
			merged.GetUserId() == prev && !slices.Contains(p.MergedIds, prev) {
			pr.merge(p, merged)
		}
	}
	pr.applyActivity(p, ev)
	pr.remember(p, ev.GetEventId())
	p.Version++
	if p.Applied == nil {
		p.Applied = &profilev1.Position{}
	}
	p.Applied.Partition, p.Applied.Offset = pos.GetPartition(), pos.GetOffset()
	return p, true
}

// ApplyPrediction records pred, read from strata.predictions.v1 at pos, as p's latest
// predictions (p may be nil). A prediction scored before the one p holds is ignored.
func ApplyPrediction(p *profilev1.Profile, userID string, pred *predictionv1.Prediction, pos *profilev1.Position) (*profilev1.Profile, bool) {
	if p == nil {
		p = &profilev1.Profile{UserId: userID}
	}
	if appliedAt(p.GetPredictionsApplied(), pos) {
		return p, false
	}
	if cur := p.GetPredictions(); cur == nil || !pred.GetScoredAt().AsTime().Before(cur.GetScoredAt().AsTime()) {
		p.Predictions = pred
	}
	p.Version++
	p.PredictionsApplied = &profilev1.Position{Partition: pos.GetPartition(), Offset: pos.GetOffset()}
	return p, true
}

// CountKey is the name an event is counted under: the track event name, or the call type
// ("identify", "page", …) for other calls.
func CountKey(ev *eventv1.Event) string {
	if ev.GetType() == eventv1.EventType_EVENT_TYPE_TRACK && ev.GetEvent() != "" {
		return ev.GetEvent()
	}
	return strings.ToLower(strings.TrimPrefix(ev.GetType().String(), "EVENT_TYPE_"))
}

func eventHash(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}

func (pr Params) seen(p *profilev1.Profile, id string) bool {
	return slices.Contains(p.GetActivity().GetRecentEvents(), eventHash(id))
}

func (pr Params) remember(p *profilev1.Profile, id string) {
	if id == "" {
		return
	}
	a := activity(p)
	a.RecentEvents = append(a.RecentEvents, eventHash(id))
	if n := len(a.RecentEvents) - pr.RecentEvents; n > 0 {
		a.RecentEvents = slices.Delete(a.RecentEvents, 0, n)
	}
}

func activity(p *profilev1.Profile) *profilev1.Activity {
	if p.Activity == nil {
		p.Activity = &profilev1.Activity{}
	}
	return p.Activity
}

// setTime sets *dst to t, reusing the timestamp *dst points to: the fold and Derive move
// some times forward on nearly every event, and a profile owns its timestamps (Merge
// copies the ones it takes from another profile), so none is shared.
func setTime(dst **timestamppb.Timestamp, t time.Time) {
	if *dst == nil {
		*dst = timestamppb.New(t)
		return
	}
	(*dst).Seconds, (*dst).Nanos = t.Unix(), int32(t.Nanosecond())
}

func aggregates(p *profilev1.Profile) *profilev1.Aggregates {
	if p.Aggregates == nil {
		p.Aggregates = &profilev1.Aggregates{}
	}
	if p.Aggregates.Lifetime == nil {
		p.Aggregates.Lifetime = &profilev1.Window{}
	}
	return p.Aggregates
}

// Traits.

func applyTraits(p *profilev1.Profile, traits *structpb.Struct) {
	if len(traits.GetFields()) == 0 {
		return
	}
	if p.Traits == nil {
		p.Traits = &structpb.Struct{}
	}
	if p.Traits.Fields == nil {
		// An empty struct decodes without a map.
		p.Traits.Fields = map[string]*structpb.Value{}
	}
	for k, v := range traits.GetFields() {
		p.Traits.Fields[k] = v
	}
	f := traits.GetFields()
	if p.Demographics == nil {
		p.Demographics = &profilev1.Demographics{}
	}
	d := p.Demographics
	if v, ok := text(f, "age_band", "ageBand"); ok {
		d.AgeBand = v
	} else if age, ok := number(f, "age"); ok {
		d.AgeBand = AgeBand(age)
	}
	setText(&d.Gender, f, "gender")
	setText(&d.Occupation, f, "occupation", "job")
	setText(&d.IncomeLevel, f, "income_level", "incomeLevel", "income")
	setText(&d.CityTier, f, "city_tier", "cityTier")
	if v, ok := stringList(f, "interests"); ok {
		d.Interests = v
	}
	if c := f["consent"].GetStructValue(); c != nil {
		for ch, v := range c.GetFields() {
			if b, ok := v.GetKind().(*structpb.Value_BoolValue); ok {
				setConsent(p, ch, b.BoolValue)
			}
		}
	}
}

func applyConsentEvent(p *profilev1.Profile, props *structpb.Struct) {
	f := props.GetFields()
	ch, ok := text(f, "channel")
	if !ok {
		return
	}
	if b, ok := f["granted"].GetKind().(*structpb.Value_BoolValue); ok {
		setConsent(p, ch, b.BoolValue)
	}
}

func setConsent(p *profilev1.Profile, channel string, granted bool) {
	channel = strings.ToLower(strings.TrimSpace(channel))
	if channel == "" {
		return
	}
	if p.Consent == nil {
		p.Consent = map[string]bool{}
	}
	p.Consent[channel] = granted
}

// AgeBand bands an age in years: "under_18", "18-24", "25-34", "35-44", "45-54", "55-64",
// "65+".
func AgeBand(age float64) string {
	switch {
	case age < 18:
		return "under_18"
	case age < 25:
		return "18-24"
	case age < 35:
		return "25-34"
	case age < 45:
		return "35-44"
	case age < 55:
		return "45-54"
	case age < 65:
		return "55-64"
	}
	return "65+"
}

// text returns the first of keys present in f as a string (numbers are formatted).
func text(f map[string]*structpb.Value, keys ...string) (string, bool) {
	for _, k := range keys {
		switch v := f[k].GetKind().(type) {
		case *structpb.Value_StringValue:
			if s := strings.TrimSpace(v.StringValue); s != "" {
				return s, true
			}
		case *structpb.Value_NumberValue:
			return formatNumber(v.NumberValue), true
		}
	}
	return "", false
}

func setText(dst *string, f map[string]*structpb.Value, keys ...string) {
	if v, ok := text(f, keys...); ok {
		*dst = v
	}
}

func number(f map[string]*structpb.Value, keys ...string) (float64, bool) {
	for _, k := range keys {
		if v, ok := numberValue(f[k]); ok {
			return v, true
		}
	}
	return 0, false
}

func numberValue(v *structpb.Value) (float64, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return k.NumberValue, true
	case *structpb.Value_StringValue:
		return parseNumber(k.StringValue)
	}
	return 0, false
}

// stringList reads a list of strings, or a comma-separated string.
func stringList(f map[string]*structpb.Value, keys ...string) ([]string, bool) {
	for _, k := range keys {
		switch v := f[k].GetKind().(type) {
		case *structpb.Value_ListValue:
			var out []string
			for _, x := range v.ListValue.GetValues() {
				if s := strings.TrimSpace(x.GetStringValue()); s != "" {
					out = append(out, s)
				}
			}
			return out, true
		case *structpb.Value_StringValue:
			var out []string
			for _, s := range strings.Split(v.StringValue, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out, true
		}
	}
	return nil, false
}
