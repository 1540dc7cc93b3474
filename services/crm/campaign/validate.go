package campaign

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
)

// Violation names one invalid field of a campaign definition, by its path in the
// CreateCampaign request body (e.g. "campaign.offer.percent_off").
type Violation struct {
	Field, Description string
}

// InvalidError is returned for an invalid campaign definition; it lists every
// violation found.
type InvalidError struct {
	Violations []Violation
}

func (e *InvalidError) Error() string {
	if len(e.Violations) == 0 {
		return "campaign: invalid definition"
	}
	return fmt.Sprintf("campaign: invalid %s: %s", e.Violations[0].Field, e.Violations[0].Description)
}

// Limits of a definition.
const (
	MaxWindowHours     = 720
	DefaultWindowHours = 72
	MaxHoldoutPercent  = 50
	MaxPercentOff      = 90
	// DefaultGoal is the conversion event when a campaign names none.
	DefaultGoal = "Order Completed"
	// DefaultVariant names the single variant of a campaign that defines none.
	DefaultVariant = "main"
	// ArmControl and ArmHoldout name the arms that are not messaged: the global control
	// group and the campaign's holdout.
	ArmControl = "control"
	ArmHoldout = "holdout"
)

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	currency     = regexp.MustCompile(`^[A-Z]{3}$`)
	channelNames = map[crmv1.Channel]string{crmv1.Channel_CHANNEL_PUSH: "push", crmv1.Channel_CHANNEL_SMS: "sms", crmv1.Channel_CHANNEL_EMAIL: "email", crmv1.Channel_CHANNEL_IN_APP: "in_app"}
)

// ChannelName returns the name consent is recorded under for a channel ("email", …).
func ChannelName(c crmv1.Channel) string { return channelNames[c] }

type validator struct {
	vs []Violation
}

func (v *validator) add(field, format string, args ...any) {
	v.vs = append(v.vs, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Validate checks a campaign definition as CreateCampaign receives it, at now, and
// returns an *InvalidError naming every bad field, or nil. The field rules the protobuf
// declares are checked again here, so that the service is safe to call directly, and
// the rules that span fields are added.
func Validate(c *crmv1.Campaign, now time.Time) error {
	v := &validator{}
	const p = "campaign."
	if c == nil {
		v.add("campaign", "is required")
		return &InvalidError{Violations: v.vs}
	}
	if id := c.GetCampaignId(); id != "" && (len(id) > 64 || !idPattern.MatchString(id)) {
		v.add(p+"campaign_id", "must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit")
	}
	if n := len(c.GetName()); n == 0 || n > 200 {
		v.add(p+"name", "must be 1 to 200 characters")
	}
	if _, ok := channelNames[c.GetChannel()]; !ok {
		v.add(p+"channel", "must be push, sms, email or in_app")
	}
	if h := c.GetHoldoutPercent(); h < 0 || h > MaxHoldoutPercent {
		v.add(p+"holdout_percent", "must be 0 to %d", MaxHoldoutPercent)
	}
	validateTarget(v, p+"target", c.GetTarget())
	validateOffer(v, p+"offer", c.GetOffer())
	validateContent(v, p+"content", c.GetContent())
	names := map[string]bool{}
	for i, vr := range c.GetVariants() {
		f := fmt.Sprintf("%svariants[%d]", p, i)
		switch name := vr.GetName(); {
		case !idPattern.MatchString(name) || len(name) > 64:
			v.add(f+".name", "must be 1 to 64 lower-case letters, digits, '-' or '_'")
		case name == ArmControl || name == ArmHoldout:
			v.add(f+".name", "%q is reserved for the arms that are not messaged", name)
		case names[name]:
			v.add(f+".name", "%q is used by another variant", name)
		}
		names[vr.GetName()] = true
		if w := vr.GetWeight(); w < 1 || w > 100 {
			v.add(f+".weight", "must be 1 to 100")
		}
		validateOffer(v, f+".offer", vr.GetOffer())
		validateContent(v, f+".content", vr.GetContent())
	}
	if len(c.GetVariants()) > 10 {
		v.add(p+"variants", "at most 10 variants")
	}
	validateSchedule(v, p+"schedule", c.GetSchedule(), now)
	if q := c.GetQuietHours(); q != nil {
		if q.GetStartHour() < 0 || q.GetStartHour() > 23 {
			v.add(p+"quiet_hours.start_hour", "must be 0 to 23")
		}
		if q.GetEndHour() < 0 || q.GetEndHour() > 23 {
			v.add(p+"quiet_hours.end_hour", "must be 0 to 23")
		}
	}
	fc := c.GetFrequencyCap()
	if fc.GetPerDay() < 0 || fc.GetPerDay() > 100 {
		v.add(p+"frequency_cap.per_day", "must be 0 to 100")
	}
	if fc.GetPerWeek() < 0 || fc.GetPerWeek() > 500 {
		v.add(p+"frequency_cap.per_week", "must be 0 to 500")
	}
	if fc.GetPerDay() > 0 && fc.GetPerWeek() > 0 && fc.GetPerDay() > fc.GetPerWeek() {
		v.add(p+"frequency_cap.per_day", "must not exceed per_week")
	}
	if w := c.GetGoal().GetWindowHours(); w < 0 || w > MaxWindowHours {
		v.add(p+"goal.window_hours", "must be 1 to %d (0 for the default, %d)", MaxWindowHours, DefaultWindowHours)
	}
	if len(c.GetGoal().GetEvent()) > 200 {
		v.add(p+"goal.event", "at most 200 characters")
	}
	if len(v.vs) > 0 {
		return &InvalidError{Violations: v.vs}
	}
	return nil
}

// Bounds of a recurring campaign's interval.
const (
	MinEveryMinutes = 60
	MaxEveryMinutes = 90 * 24 * 60
)

func validateSchedule(v *validator, f string, s *crmv1.Schedule, now time.Time) {
	typ := s.GetType()
	future := func(name string, ts interface {
		IsValid() bool
		AsTime() time.Time
	}) {
		if !ts.IsValid() {
			v.add(f+"."+name, "is not a valid time")
		} else if !ts.AsTime().After(now) {
			v.add(f+"."+name, "must be in the future")
		}
	}
	recurring := typ == crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING
	entry := typ == crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY
	switch typ {
	case crmv1.ScheduleType_SCHEDULE_TYPE_UNSPECIFIED, crmv1.ScheduleType_SCHEDULE_TYPE_NOW:
		if s.GetAt() != nil {
			v.add(f+".at", "is only for schedule types AT and RECURRING")
		}
	case crmv1.ScheduleType_SCHEDULE_TYPE_AT:
		if s.GetAt() == nil {
			v.add(f+".at", "is required for schedule type AT")
		} else {
			future("at", s.GetAt())
		}
	case crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING:
		if e := s.GetEveryMinutes(); e < MinEveryMinutes || e > MaxEveryMinutes {
			v.add(f+".every_minutes", "must be %d to %d for a recurring schedule", MinEveryMinutes, MaxEveryMinutes)
		}
		if s.GetAt() != nil {
			future("at", s.GetAt())
		}
		if s.GetUntil() == nil {
			v.add(f+".until", "is required for a recurring schedule")
		} else if s.GetAt() != nil && s.GetUntil().AsTime().Before(s.GetAt().AsTime()) {
			v.add(f+".until", "is before at: the campaign would never run")
		}
	case crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY:
		if n := len(s.GetTriggerSegmentId()); n == 0 || n > 64 {
			v.add(f+".trigger_segment_id", "must be 1 to 64 characters for a segment-entry schedule")
		}
		if s.GetAt() != nil {
			v.add(f+".at", "is not for segment-entry schedules: they start at launch")
		}
	default:
		v.add(f+".type", "unknown schedule type %v", typ)
	}
	if !recurring && s.GetEveryMinutes() != 0 {
		v.add(f+".every_minutes", "is only for recurring schedules")
	}
	if !entry && s.GetTriggerSegmentId() != "" {
		v.add(f+".trigger_segment_id", "is only for segment-entry schedules")
	}
	if s.GetUntil() != nil {
		if !recurring && !entry {
			v.add(f+".until", "is only for recurring and segment-entry schedules")
		} else {
			future("until", s.GetUntil())
		}
	}
}

func validateTarget(v *validator, f string, t *crmv1.Target) {
	if t == nil {
		v.add(f, "is required")
		return
	}
	include := map[string]bool{}
	if len(t.GetSegmentIds()) == 0 {
		v.add(f+".segment_ids", "at least one segment is required")
	}
	if len(t.GetSegmentIds()) > 50 {
		v.add(f+".segment_ids", "at most 50 segments")
	}
	for i, s := range t.GetSegmentIds() {
		switch {
		case s == "" || len(s) > 64:
			v.add(fmt.Sprintf("%s.segment_ids[%d]", f, i), "must be 1 to 64 characters")
		case include[s]:
			v.add(fmt.Sprintf("%s.segment_ids[%d]", f, i), "segment %q is listed twice", s)
		}
		include[s] = true
	}
	for i, s := range t.GetExcludeSegmentIds() {
		if include[s] {
			v.add(fmt.Sprintf("%s.exclude_segment_ids[%d]", f, i), "segment %q is both targeted and excluded: the target would be empty", s)
		}
	}
	if len(t.GetExcludeSegmentIds()) > 50 {
		v.add(f+".exclude_segment_ids", "at most 50 segments")
	}
	if len(t.GetExcludeUserIds()) > 10000 {
		v.add(f+".exclude_user_ids", "at most 10000 users")
	}
	pf := t.GetPredictions()
	if pf == nil {
		pf = &crmv1.PredictionFilter{}
	}
	for _, b := range []struct {
		name string
		set  bool
		val  float64
	}{
		{"min_purchase_propensity", pf.MinPurchasePropensity != nil, pf.GetMinPurchasePropensity()},
		{"max_purchase_propensity", pf.MaxPurchasePropensity != nil, pf.GetMaxPurchasePropensity()},
		{"min_churn_risk", pf.MinChurnRisk != nil, pf.GetMinChurnRisk()},
		{"max_churn_risk", pf.MaxChurnRisk != nil, pf.GetMaxChurnRisk()},
	} {
		if b.set && !(b.val >= 0 && b.val <= 1) {
			v.add(f+".predictions."+b.name, "must be between 0 and 1")
		}
	}
	if pf.MinPurchasePropensity != nil && pf.MaxPurchasePropensity != nil && pf.GetMinPurchasePropensity() > pf.GetMaxPurchasePropensity() {
		v.add(f+".predictions.min_purchase_propensity", "exceeds max_purchase_propensity: the target would be empty")
	}
	if pf.MinChurnRisk != nil && pf.MaxChurnRisk != nil && pf.GetMinChurnRisk() > pf.GetMaxChurnRisk() {
		v.add(f+".predictions.min_churn_risk", "exceeds max_churn_risk: the target would be empty")
	}
	if pf.MinClvMinor != nil && pf.GetMinClvMinor() < 0 {
		v.add(f+".predictions.min_clv_minor", "must not be negative")
	}
}

func validateOffer(v *validator, f string, o *crmv1.Offer) {
	if o == nil {
		return
	}
	discount := o.GetType() == crmv1.OfferType_OFFER_TYPE_FIXED || o.GetType() == crmv1.OfferType_OFFER_TYPE_PERCENT ||
		o.GetType() == crmv1.OfferType_OFFER_TYPE_PERSONALISED
	switch o.GetType() {
	case crmv1.OfferType_OFFER_TYPE_UNSPECIFIED, crmv1.OfferType_OFFER_TYPE_NONE:
		if o.GetAmountOffMinor() != 0 || o.GetPercentOff() != 0 || o.GetMaxPercentOff() != 0 {
			v.add(f+".type", "a discount is set but the offer type is none")
		}
	case crmv1.OfferType_OFFER_TYPE_FIXED:
		if o.GetAmountOffMinor() <= 0 {
			v.add(f+".amount_off_minor", "must be positive for a fixed discount")
		} else if o.GetListPriceMinor() > 0 && o.GetListPriceMinor()-o.GetAmountOffMinor() < o.GetFloorPriceMinor() {
			v.add(f+".amount_off_minor", "takes the price below floor_price_minor")
		}
	case crmv1.OfferType_OFFER_TYPE_PERCENT:
		if p := o.GetPercentOff(); p < 1 || p > MaxPercentOff {
			v.add(f+".percent_off", "must be 1 to %d for a percentage discount", MaxPercentOff)
		}
	case crmv1.OfferType_OFFER_TYPE_PERSONALISED:
		if p := o.GetMaxPercentOff(); p < 1 || p > MaxPercentOff {
			v.add(f+".max_percent_off", "must be 1 to %d for a personalised discount", MaxPercentOff)
		}
	default:
		v.add(f+".type", "unknown offer type %v", o.GetType())
	}
	if !discount {
		if o.GetBudgetMinor() != 0 {
			v.add(f+".budget_minor", "is only for offers with a discount")
		}
		return
	}
	if o.GetListPriceMinor() <= 0 {
		v.add(f+".list_price_minor", "must be positive for an offer with a discount")
	}
	if !currency.MatchString(o.GetCurrency()) {
		v.add(f+".currency", "must be an ISO 4217 code such as CNY")
	}
	if o.GetFloorPriceMinor() < 0 || (o.GetListPriceMinor() > 0 && o.GetFloorPriceMinor() >= o.GetListPriceMinor()) {
		v.add(f+".floor_price_minor", "must be at least 0 and below list_price_minor")
	}
	if o.GetBudgetMinor() < 0 {
		v.add(f+".budget_minor", "must not be negative")
	}
	if c := o.GetCouponCode(); len(c) > 64 || strings.ContainsAny(c, " \t\n") {
		v.add(f+".coupon_code", "must be at most 64 characters without spaces")
	}
}

func validateContent(v *validator, f string, c *crmv1.Content) {
	if c == nil {
		return
	}
	if _, err := parseTemplate("title", c.GetTitle()); err != nil {
		v.add(f+".title", "template: %v", err)
	}
	if _, err := parseTemplate("body", c.GetBody()); err != nil {
		v.add(f+".body", "template: %v", err)
	}
	if n := c.GetRecommendations(); n < 0 || n > 10 {
		v.add(f+".recommendations", "must be 0 to 10")
	}
}

func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	// Executing on sample data catches references to fields that do not exist.
	if err := t.Execute(discard{}, sampleData); err != nil {
		return nil, err
	}
	return t, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
