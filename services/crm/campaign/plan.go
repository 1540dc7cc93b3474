package campaign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"math"
	"strings"
	"text/template"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// Buckets is the number of buckets users hash into; a percentage p covers buckets
// [0, p·100).
const Buckets = 10000

// globalControlSalt salts the global control bucket. It is API: changing it reshuffles
// who is in the control group of every campaign from then on.
const globalControlSalt = "strata-crm-global-control"

// Bucket returns userID's deterministic bucket, 0 to Buckets-1, for salt (FNV-1a, 64
// bit, of salt, a NUL and the user id).
func Bucket(salt, userID string) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(salt))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(userID))
	return int(h.Sum64() % Buckets)
}

// InGlobalControl reports whether userID is in the global control group when it holds
// percent % of users. The group is the same for every campaign: its members are never
// messaged by any campaign, which is what lets reports compare against them.
func InGlobalControl(userID string, percent int) bool {
	return Bucket(globalControlSalt, userID) < percent*Buckets/100
}

// MessageID returns the stable id of a campaign's message to a user: the same for every
// launch attempt and every relay retry, so deliverers can drop duplicates by it.
func MessageID(campaignID, userID string) string {
	sum := sha256.Sum256([]byte(campaignID + "\x00" + userID))
	return "msg-" + hex.EncodeToString(sum[:16])
}

// armOf assigns an eligible user: the global control group first, then the campaign's
// holdout, then a variant by weight. Each draw hashes with its own salt, so the draws
// are independent of each other and of other campaigns.
func armOf(campaignID, userID string, controlPercent, holdoutPercent int, variants []variant, totalWeight int) string {
	if InGlobalControl(userID, controlPercent) {
		return ArmControl
	}
	if holdoutPercent > 0 && Bucket("holdout:"+campaignID, userID) < holdoutPercent*Buckets/100 {
		return ArmHoldout
	}
	if len(variants) == 1 {
		return variants[0].name
	}
	b := Bucket("variant:"+campaignID, userID) * totalWeight
	acc := 0
	for _, v := range variants {
		acc += v.weight * Buckets
		if b < acc {
			return v.name
		}
	}
	return variants[len(variants)-1].name
}

// variant is a definition's variant with its defaults applied and templates parsed.
type variant struct {
	name        string
	weight      int
	offer       *crmv1.Offer
	title, body *template.Template
	recommend   int
}

func variantsOf(def *crmv1.Campaign) ([]variant, error) {
	defs := def.GetVariants()
	if len(defs) == 0 {
		defs = []*crmv1.Variant{{Name: DefaultVariant, Weight: 1}}
	}
	out := make([]variant, len(defs))
	for i, d := range defs {
		content := d.GetContent()
		if content == nil {
			content = def.GetContent()
		}
		offer := d.GetOffer()
		if offer == nil {
			offer = def.GetOffer()
		}
		title, err := parseTemplate("title", content.GetTitle())
		if err != nil {
			return nil, err
		}
		body, err := parseTemplate("body", content.GetBody())
		if err != nil {
			return nil, err
		}
		out[i] = variant{name: d.GetName(), weight: int(max(1, d.GetWeight())), offer: offer, title: title, body: body,
			recommend: int(content.GetRecommendations())}
	}
	return out, nil
}

// Data is what a content template sees.
type Data struct {
	UserID    string
	RFMTier   string
	Lifecycle string
	Offer     OfferData
	// Items are recommended item ids.
	Items []string
}

// OfferData is the offer as a template sees it; zero when the user has none.
type OfferData struct {
	ItemID        string
	PriceMinor    int64
	DiscountMinor int64
	Currency      string
	Coupon        string
}

var sampleData = Data{UserID: "u", RFMTier: "Champions", Lifecycle: "active",
	Offer: OfferData{ItemID: "i", PriceMinor: 9900, DiscountMinor: 1000, Currency: "CNY", Coupon: "C"},
	Items: []string{"i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i9", "i10"}}

// Sensitivity estimates a customer's price sensitivity in (0, 1) from their history:
// the share of their orders that used a discount, smoothed towards 1/2 (Laplace), so a
// customer without orders is 1/2.
func Sensitivity(orders, discounted int64) float64 {
	return float64(discounted+1) / float64(orders+2)
}

// offerFor computes a user's discount on o, before the budget. Fixed and percentage
// discounts are the same for everyone; a personalised one is max_percent_off scaled up
// by price sensitivity and down by purchase propensity (someone likely to buy anyway
// needs less), so pct = max · sensitivity · (1 − propensity), with propensity 1/2 when
// unknown. Every discount stops at the floor price.
func offerFor(o *crmv1.Offer, c store.Candidate) int64 {
	list := o.GetListPriceMinor()
	var d int64
	switch o.GetType() {
	case crmv1.OfferType_OFFER_TYPE_FIXED:
		d = o.GetAmountOffMinor()
	case crmv1.OfferType_OFFER_TYPE_PERCENT:
		d = int64(math.Round(float64(list) * float64(o.GetPercentOff()) / 100))
	case crmv1.OfferType_OFFER_TYPE_PERSONALISED:
		p := 0.5
		if c.HasPrediction {
			p = min(1, max(0, c.PurchasePropensity))
		}
		pct := float64(o.GetMaxPercentOff()) * Sensitivity(c.Orders, c.DiscountedOrders) * (1 - p)
		d = int64(math.Round(float64(list) * pct / 100))
	default:
		return 0
	}
	return max(0, min(d, list-o.GetFloorPriceMinor()))
}

// Recommender returns up to n recommended item ids for a user (scene email).
type Recommender interface {
	Recommend(ctx context.Context, userID string, n int) ([]string, error)
}

// Preview is how a target splits, rule by rule.
type Preview struct {
	Candidates, Excluded, WithoutConsent, DoNotContact, Capped int64
	Eligible, Control, Holdout                                 int64
	Treated                                                    map[string]int64
}

// TreatedTotal is the number of users to message.
func (p Preview) TreatedTotal() int64 {
	var n int64
	for _, v := range p.Treated {
		n += v
	}
	return n
}

// wantsItems reports whether some variant's content asks for recommended items that
// a recommender can fill.
func (p *planner) wantsItems() bool {
	if p.recommender == nil {
		return false
	}
	for _, v := range p.variants {
		if v.recommend > 0 {
			return true
		}
	}
	return false
}

// caps are the effective frequency caps.
type caps struct{ perDay, perWeek int }

// planner turns candidates into an audience and messages.
type planner struct {
	id             string
	def            *crmv1.Campaign
	channel        string
	controlPercent int
	caps           caps
	variants       []variant
	totalWeight    int
	excludeUsers   map[string]bool
	coupon         string
	now            time.Time
	recommender    Recommender
	quiet          Quiet
	zones          *zones
}

func newPlanner(id string, def *crmv1.Campaign, controlPercent int, defaults caps, now time.Time, rec Recommender) (*planner, error) {
	vs, err := variantsOf(def)
	if err != nil {
		return nil, err
	}
	p := &planner{id: id, def: def, channel: ChannelName(def.GetChannel()), controlPercent: controlPercent, caps: defaults,
		variants: vs, excludeUsers: map[string]bool{}, now: now, recommender: rec}
	for _, v := range vs {
		p.totalWeight += v.weight
	}
	if fc := def.GetFrequencyCap(); fc.GetPerDay() > 0 {
		p.caps.perDay = int(fc.GetPerDay())
	}
	if fc := def.GetFrequencyCap(); fc.GetPerWeek() > 0 {
		p.caps.perWeek = int(fc.GetPerWeek())
	}
	for _, u := range def.GetTarget().GetExcludeUserIds() {
		p.excludeUsers[u] = true
	}
	p.coupon = CouponCode(id, def)
	return p, nil
}

// CouponCode is the coupon that identifies a campaign's redemptions: the offer's code,
// or the campaign id in upper case.
func CouponCode(id string, def *crmv1.Campaign) string {
	if c := def.GetOffer().GetCouponCode(); c != "" {
		return c
	}
	return strings.ToUpper(id)
}

// query is the store query for the planner's target.
func (p *planner) query() store.TargetQuery {
	t := p.def.GetTarget()
	pf := t.GetPredictions()
	if pf == nil {
		pf = &crmv1.PredictionFilter{}
	}
	return store.TargetQuery{
		SegmentIDs: t.GetSegmentIds(), MatchAny: t.GetMatchAny(), ExcludeSegmentIDs: t.GetExcludeSegmentIds(),
		MinPropensity: pf.MinPurchasePropensity, MaxPropensity: pf.MaxPurchasePropensity,
		MinChurnRisk: pf.MinChurnRisk, MaxChurnRisk: pf.MaxChurnRisk, MinCLVMinor: pf.MinClvMinor,
		Channel: p.channel, DaySince: p.now.Add(-24 * time.Hour), WeekSince: p.now.Add(-7 * 24 * time.Hour),
	}
}

// assigned is one eligible user with their arm.
type assigned struct {
	cand store.Candidate
	arm  string
}

// split applies the rules in order (exclusions, consent, do-not-contact, frequency
// caps), counting what each removes, and assigns the eligible users to arms.
func (p *planner) split(cands []store.Candidate) (Preview, []assigned) {
	pv := Preview{Candidates: int64(len(cands)), Treated: map[string]int64{}}
	for _, v := range p.variants {
		pv.Treated[v.name] = 0
	}
	out := make([]assigned, 0, len(cands))
	for _, c := range cands {
		switch {
		case c.Excluded || p.excludeUsers[c.UserID]:
			pv.Excluded++
			continue
		case !c.Consent:
			pv.WithoutConsent++
			continue
		case c.DoNotContact:
			pv.DoNotContact++
			continue
		case c.SentDay >= p.caps.perDay || c.SentWeek >= p.caps.perWeek:
			pv.Capped++
			continue
		}
		pv.Eligible++
		arm := armOf(p.id, c.UserID, p.controlPercent, int(p.def.GetHoldoutPercent()), p.variants, p.totalWeight)
		switch arm {
		case ArmControl:
			pv.Control++
		case ArmHoldout:
			pv.Holdout++
		default:
			pv.Treated[arm]++
		}
		out = append(out, assigned{cand: c, arm: arm})
	}
	return pv, out
}

// build writes the plan: every eligible user in the audience, a message for each
// treated one. Offers are granted in user-id order until the budget (the face value of
// the discounts offered) runs out; later users get the message without an offer.
func (p *planner) build(users []assigned, items prefetched) (store.LaunchPlan, error) {
	plan := store.LaunchPlan{ControlPercent: p.controlPercent, Audience: make([]store.AudienceMember, 0, len(users))}
	byName := map[string]*variant{}
	for i := range p.variants {
		byName[p.variants[i].name] = &p.variants[i]
	}
	spent := map[*crmv1.Offer]int64{}
	var buf bytes.Buffer
	created := timestamppb.New(p.now)
	for _, u := range users {
		v := byName[u.arm]
		if v == nil {
			plan.Audience = append(plan.Audience, store.AudienceMember{UserID: u.cand.UserID, Arm: u.arm})
			continue
		}
		id := MessageID(p.id, u.cand.UserID)
		plan.Audience = append(plan.Audience, store.AudienceMember{UserID: u.cand.UserID, Arm: u.arm, MessageID: id})
		data := Data{UserID: u.cand.UserID, RFMTier: u.cand.RFMTier, Lifecycle: u.cand.Lifecycle}
		if d := offerFor(v.offer, u.cand); d > 0 {
			if b := v.offer.GetBudgetMinor(); b == 0 || spent[v.offer]+d <= b {
				spent[v.offer] += d
				data.Offer = OfferData{ItemID: v.offer.GetItemId(), PriceMinor: v.offer.GetListPriceMinor() - d, DiscountMinor: d,
					Currency: v.offer.GetCurrency(), Coupon: p.coupon}
			}
		}
		if v.recommend > 0 {
			data.Items = items[u.cand.UserID]
		}
		msg := &crmv1.CampaignMessage{MessageId: id, CampaignId: p.id, Variant: v.name, UserId: u.cand.UserID,
			Channel: p.def.GetChannel(), OfferItemId: data.Offer.ItemID, OfferPriceMinor: data.Offer.PriceMinor,
			OfferDiscountMinor: data.Offer.DiscountMinor, OfferCurrency: data.Offer.Currency, CouponCode: data.Offer.Coupon,
			ItemIds: data.Items, CreatedAt: created}
		buf.Reset()
		if err := v.title.Execute(&buf, data); err != nil {
			return store.LaunchPlan{}, err
		}
		msg.Title = buf.String()
		buf.Reset()
		if err := v.body.Execute(&buf, data); err != nil {
			return store.LaunchPlan{}, err
		}
		msg.Body = buf.String()
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			return store.LaunchPlan{}, err
		}
		plan.Messages = append(plan.Messages, store.OutboxMessage{MessageID: id, CampaignID: p.id, UserID: u.cand.UserID,
			Channel: p.channel, Variant: v.name, DiscountMinor: data.Offer.DiscountMinor, CreatedAt: p.now,
			DueAt: p.quiet.Defer(p.now, p.zones.of(u.cand.Timezone)), Payload: payload})
	}
	return plan, nil
}
