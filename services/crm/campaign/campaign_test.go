package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/store"
)

var now = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// seed creates n users u0000… in segment "all"; every 10th has no email consent, user
// 7 is on the do-not-contact list, even users are in "even"; propensity is k/n. It
// bulk-loads them (one COPY-like transaction): seeding is the slow part of these tests.
func seed(t testing.TB, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	cs := make([]store.ImportedCustomer, n)
	for k := range n {
		segs := []string{"all"}
		if k%2 == 0 {
			segs = append(segs, "even")
		}
		cs[k] = store.ImportedCustomer{UserID: fmt.Sprintf("u%04d", k), RFMTier: "Loyal", Consent: map[string]bool{"email": k%10 != 9, "sms": true},
			Prediction: &store.Prediction{PurchasePropensity: float64(k) / float64(n), ScoredAt: now}, Segments: segs}
	}
	if err := s.ImportCustomers(ctx, cs, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDoNotContact(ctx, "u0007", true, "asked", now); err != nil {
		t.Fatal(err)
	}
}

func newService(t testing.TB, s campaign.Store, cfg campaign.Config) *campaign.Service {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	svc, err := campaign.New(s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func basic(id string) *crmv1.Campaign {
	return &crmv1.Campaign{CampaignId: id, Name: "Autumn", Channel: crmv1.Channel_CHANNEL_EMAIL,
		Target:  &crmv1.Target{SegmentIds: []string{"all"}},
		Content: &crmv1.Content{Title: "Hi {{.UserID}}", Body: "{{if .Offer.DiscountMinor}}{{.Offer.DiscountMinor}} off with {{.Offer.Coupon}}{{end}}"}}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		mutate func(c *crmv1.Campaign)
		field  string
	}{
		{"no name", func(c *crmv1.Campaign) { c.Name = "" }, "campaign.name"},
		{"bad id", func(c *crmv1.Campaign) { c.CampaignId = "Bad Id" }, "campaign.campaign_id"},
		{"no channel", func(c *crmv1.Campaign) { c.Channel = 0 }, "campaign.channel"},
		{"no target", func(c *crmv1.Campaign) { c.Target = nil }, "campaign.target"},
		{"no segments", func(c *crmv1.Campaign) { c.Target.SegmentIds = nil }, "campaign.target.segment_ids"},
		{"segment twice", func(c *crmv1.Campaign) { c.Target.SegmentIds = []string{"all", "all"} }, "campaign.target.segment_ids[1]"},
		{"excluded and targeted", func(c *crmv1.Campaign) { c.Target.ExcludeSegmentIds = []string{"all"} }, "campaign.target.exclude_segment_ids[0]"},
		{"propensity bounds crossed", func(c *crmv1.Campaign) {
			c.Target.Predictions = &crmv1.PredictionFilter{MinPurchasePropensity: f(0.8), MaxPurchasePropensity: f(0.2)}
		}, "campaign.target.predictions.min_purchase_propensity"},
		{"churn out of range", func(c *crmv1.Campaign) { c.Target.Predictions = &crmv1.PredictionFilter{MinChurnRisk: f(1.5)} }, "campaign.target.predictions.min_churn_risk"},
		{"holdout too big", func(c *crmv1.Campaign) { c.HoldoutPercent = 60 }, "campaign.holdout_percent"},
		{"percent offer without percent", func(c *crmv1.Campaign) {
			c.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERCENT, ListPriceMinor: 100, Currency: "CNY"}
		}, "campaign.offer.percent_off"},
		{"fixed offer below floor", func(c *crmv1.Campaign) {
			c.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_FIXED, AmountOffMinor: 90, ListPriceMinor: 100, FloorPriceMinor: 50, Currency: "CNY"}
		}, "campaign.offer.amount_off_minor"},
		{"discount without currency", func(c *crmv1.Campaign) {
			c.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERCENT, PercentOff: 10, ListPriceMinor: 100}
		}, "campaign.offer.currency"},
		{"floor above list", func(c *crmv1.Campaign) {
			c.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERSONALISED, MaxPercentOff: 30, ListPriceMinor: 100, FloorPriceMinor: 100, Currency: "CNY"}
		}, "campaign.offer.floor_price_minor"},
		{"budget without discount", func(c *crmv1.Campaign) { c.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_NONE, BudgetMinor: 5} }, "campaign.offer.budget_minor"},
		{"bad template", func(c *crmv1.Campaign) { c.Content.Body = "{{.Nope}}" }, "campaign.content.body"},
		{"unclosed template", func(c *crmv1.Campaign) { c.Content.Title = "{{if .UserID}}" }, "campaign.content.title"},
		{"reserved variant", func(c *crmv1.Campaign) { c.Variants = []*crmv1.Variant{{Name: "control", Weight: 1}} }, "campaign.variants[0].name"},
		{"duplicate variant", func(c *crmv1.Campaign) {
			c.Variants = []*crmv1.Variant{{Name: "a", Weight: 1}, {Name: "a", Weight: 1}}
		}, "campaign.variants[1].name"},
		{"variant weight", func(c *crmv1.Campaign) { c.Variants = []*crmv1.Variant{{Name: "a"}} }, "campaign.variants[0].weight"},
		{"variant offer", func(c *crmv1.Campaign) {
			c.Variants = []*crmv1.Variant{{Name: "a", Weight: 1, Offer: &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_FIXED, ListPriceMinor: 10, Currency: "CNY"}}}
		}, "campaign.variants[0].offer.amount_off_minor"},
		{"schedule in the past", func(c *crmv1.Campaign) {
			c.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_AT, At: timestamppb.New(now.Add(-time.Hour))}
		}, "campaign.schedule.at"},
		{"schedule without time", func(c *crmv1.Campaign) { c.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_AT} }, "campaign.schedule.at"},
		{"window too long", func(c *crmv1.Campaign) { c.Goal = &crmv1.ConversionGoal{WindowHours: 721} }, "campaign.goal.window_hours"},
		{"caps crossed", func(c *crmv1.Campaign) { c.FrequencyCap = &crmv1.FrequencyCap{PerDay: 5, PerWeek: 2} }, "campaign.frequency_cap.per_day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := basic("c1")
			tt.mutate(c)
			wantViolation(t, campaign.Validate(c, now), tt.field)
		})
	}
	if err := campaign.Validate(basic("c1"), now); err != nil {
		t.Errorf("valid campaign: got %v", err)
	}
	if err := campaign.Validate(nil, now); err == nil {
		t.Errorf("nil campaign: got nil error")
	}
}

// wantViolation fails unless err is an *InvalidError naming field.
func wantViolation(t *testing.T, err error, field string) {
	t.Helper()
	var inv *campaign.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("got %v, want *InvalidError", err)
	}
	for _, v := range inv.Violations {
		if v.Field == field {
			return
		}
	}
	t.Errorf("violations %+v do not name %s", inv.Violations, field)
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	const n = 200_000
	counts := map[int]int{}
	control5, control15 := 0, 0
	for k := range n {
		u := fmt.Sprintf("user-%d", k)
		b := campaign.Bucket("salt", u)
		if b < 0 || b >= campaign.Buckets {
			t.Fatalf("bucket %d out of range", b)
		}
		if b != campaign.Bucket("salt", u) {
			t.Fatalf("bucket of %s is not deterministic", u)
		}
		counts[b/1000]++
		if campaign.InGlobalControl(u, 5) {
			control5++
			if !campaign.InGlobalControl(u, 15) {
				t.Fatalf("%s is in the 5%% control group but not in the 15%% one", u)
			}
		}
		if campaign.InGlobalControl(u, 15) {
			control15++
		}
	}
	// Each tenth of the bucket range holds 10 % ± 0.5 % of the users (about 7 standard
	// deviations at this size).
	for d := range 10 {
		if got := float64(counts[d]) / n; got < 0.095 || got > 0.105 {
			t.Errorf("bucket decile %d: got share %.4f, want 0.10 ± 0.005", d, got)
		}
	}
	if got := float64(control5) / n; got < 0.047 || got > 0.053 {
		t.Errorf("5%% control: got share %.4f", got)
	}
	if got := float64(control15) / n; got < 0.145 || got > 0.155 {
		t.Errorf("15%% control: got share %.4f", got)
	}
	// Buckets decide who is in the control group of every campaign: pinned (FNV-1a 64 of
	// salt, NUL, user id, modulo 10000, computed independently in Python).
	if got := campaign.Bucket("salt", "user-1"); got != 4322 {
		t.Errorf("Bucket(salt, user-1): got %d, want 4322", got)
	}
	// Global control buckets: user-1 4324, user-2 8957.
	if campaign.InGlobalControl("user-1", 15) || !campaign.InGlobalControl("user-1", 44) || campaign.InGlobalControl("user-2", 15) {
		t.Errorf("InGlobalControl: user-1 and user-2 moved buckets")
	}
	// Message ids are API (deliverers deduplicate by them): pinned.
	if got, want := campaign.MessageID("c", "u"), "msg-5f1149fe907fb2bc74247dace65ceb87"; got != want {
		t.Errorf("MessageID: got %q, want %q", got, want)
	}
	if campaign.MessageID("c", "u") == campaign.MessageID("c2", "u") || campaign.MessageID("c", "u") == campaign.MessageID("c", "u2") {
		t.Errorf("MessageID: not distinct across campaigns or users")
	}
}

func TestSensitivity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		orders, discounted int64
		want               float64
	}{{0, 0, 0.5}, {2, 2, 0.75}, {8, 0, 0.1}}
	for _, tt := range tests {
		if got := campaign.Sensitivity(tt.orders, tt.discounted); got != tt.want {
			t.Errorf("Sensitivity(%d, %d): got %v, want %v", tt.orders, tt.discounted, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		percent int
		ok      bool
	}{{0, true}, {1, true}, {15, true}, {16, false}, {-1, false}}
	for _, tt := range tests {
		err := campaign.Config{ControlPercent: tt.percent}.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("ControlPercent %d: got %v, want ok=%v", tt.percent, err, tt.ok)
		}
		if !tt.ok && !errors.Is(err, campaign.ErrInvalidControlPercent) {
			t.Errorf("ControlPercent %d: got %v, want ErrInvalidControlPercent", tt.percent, err)
		}
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	svc := newService(t, s, campaign.Config{})
	ctx := context.Background()
	c1, err := svc.Create(ctx, basic("same"))
	if err != nil {
		t.Fatal(err)
	}
	if c1.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_DRAFT || !c1.GetCreatedAt().AsTime().Equal(now) {
		t.Errorf("created: got %v", c1)
	}
	c2, err := svc.Create(ctx, basic("same"))
	if err != nil || !proto.Equal(c1, c2) {
		t.Errorf("create again: got %v %v, want the stored campaign", c2, err)
	}
	other := basic("same")
	other.Name = "different"
	if _, err := svc.Create(ctx, other); !errors.Is(err, campaign.ErrExists) {
		t.Errorf("create another definition under the id: got %v, want ErrExists", err)
	}
	generated, err := svc.Create(ctx, basic(""))
	if err != nil || !strings.HasPrefix(generated.GetCampaignId(), "cmp-") {
		t.Errorf("generated id: got %q %v", generated.GetCampaignId(), err)
	}
	if _, err := svc.Get(ctx, "nope"); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("Get unknown: got %v, want ErrNotFound", err)
	}
	page, next, err := svc.List(ctx, 1, "")
	if err != nil || len(page) != 1 || next == "" {
		t.Fatalf("List page 1: got %d %q %v", len(page), next, err)
	}
	page2, next2, err := svc.List(ctx, 1, next)
	if err != nil || len(page2) != 1 || next2 != "" || page2[0].GetCampaignId() == page[0].GetCampaignId() {
		t.Errorf("List page 2: got %v %q %v", page2, next2, err)
	}
	if _, _, err := svc.List(ctx, 1, "garbage!"); !errors.Is(err, campaign.ErrInvalidPageToken) {
		t.Errorf("List with a bad token: got %v", err)
	}
}

func TestLaunchSplitsTargetsAndNeverMessagesControl(t *testing.T) {
	t.Parallel()
	const n = 1000
	s := openStore(t)
	seed(t, s, n)
	svc := newService(t, s, campaign.Config{ControlPercent: 10})
	ctx := context.Background()

	def := basic("ab")
	def.HoldoutPercent = 10
	def.Variants = []*crmv1.Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 3, Content: &crmv1.Content{Title: "B", Body: "b"}}}
	def.Target.ExcludeUserIds = []string{"u0000", "u0001"}
	def.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERCENT, PercentOff: 20, ListPriceMinor: 10000, Currency: "CNY", FloorPriceMinor: 8500}
	if _, err := svc.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	pv, err := svc.Preview(ctx, "ab")
	if err != nil {
		t.Fatal(err)
	}
	// n candidates; 2 excluded; n/10 without email consent (k%10 == 9; u0001, already
	// excluded, is not one of them); u0007 on the do-not-contact list.
	if pv.Candidates != n || pv.Excluded != 2 || pv.WithoutConsent != n/10 || pv.DoNotContact != 1 || pv.Capped != 0 {
		t.Errorf("preview rules: got %+v", pv)
	}
	if pv.Eligible != n-2-n/10-1 || pv.Control+pv.Holdout+pv.TreatedTotal() != pv.Eligible {
		t.Errorf("preview split: got %+v", pv)
	}
	if share := float64(pv.Control) / float64(pv.Eligible); share < 0.07 || share > 0.13 {
		t.Errorf("control share: got %.3f, want about 0.10", share)
	}
	if ratio := float64(pv.Treated["b"]) / float64(pv.Treated["a"]); ratio < 2.4 || ratio > 3.7 {
		t.Errorf("variant b/a ratio: got %.2f, want about 3", ratio)
	}

	c, err := svc.Launch(ctx, "ab")
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_LAUNCHED || c.GetAudienceSize() != pv.Eligible || c.GetControlPercent() != 10 {
		t.Errorf("launched: got state %v audience %d control %d", c.GetState(), c.GetAudienceSize(), c.GetControlPercent())
	}
	audience, _ := s.Audience(ctx, "ab")
	msgs, _ := s.Messages(ctx, "ab")
	if int64(len(msgs)) != pv.TreatedTotal() {
		t.Errorf("messages: got %d, want %d", len(msgs), pv.TreatedTotal())
	}
	messaged := map[string]bool{}
	for _, m := range msgs {
		messaged[m.UserID] = true
		if m.MessageID != campaign.MessageID("ab", m.UserID) {
			t.Errorf("message id of %s: got %s", m.UserID, m.MessageID)
		}
		var cm crmv1.CampaignMessage
		if err := proto.Unmarshal(m.Payload, &cm); err != nil {
			t.Fatal(err)
		}
		// 20 % of 100.00 is 20.00, but the floor of 85.00 allows 15.00 off.
		if cm.GetOfferDiscountMinor() != 1500 || cm.GetOfferPriceMinor() != 8500 || cm.GetCouponCode() != "AB" {
			t.Errorf("offer of %s: got %d off, price %d, coupon %q", m.UserID, cm.GetOfferDiscountMinor(), cm.GetOfferPriceMinor(), cm.GetCouponCode())
		}
		switch cm.GetVariant() {
		case "a":
			if want := "Hi " + m.UserID; cm.GetTitle() != want || cm.GetBody() != "1500 off with AB" {
				t.Errorf("variant a content: got %q / %q", cm.GetTitle(), cm.GetBody())
			}
		case "b":
			if cm.GetTitle() != "B" {
				t.Errorf("variant b title: got %q", cm.GetTitle())
			}
		default:
			t.Errorf("message to %s has variant %q", m.UserID, cm.GetVariant())
		}
	}
	for _, a := range audience {
		inControl := campaign.InGlobalControl(a.UserID, 10)
		if inControl != (a.Arm == campaign.ArmControl) {
			t.Errorf("user %s: arm %s, in global control %v", a.UserID, a.Arm, inControl)
		}
		if (a.Arm == campaign.ArmControl || a.Arm == campaign.ArmHoldout) == messaged[a.UserID] {
			t.Errorf("user %s in arm %s: messaged %v", a.UserID, a.Arm, messaged[a.UserID])
		}
	}
	for _, u := range []string{"u0000", "u0001", "u0007", "u0009"} {
		if messaged[u] {
			t.Errorf("%s (excluded, do-not-contact or without consent) was messaged", u)
		}
	}

	// Launching again sends nothing.
	again, err := svc.Launch(ctx, "ab")
	if err != nil || again.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_LAUNCHED {
		t.Fatalf("second launch: got %v %v", again, err)
	}
	if msgs2, _ := s.Messages(ctx, "ab"); len(msgs2) != len(msgs) {
		t.Errorf("messages after second launch: got %d, want %d", len(msgs2), len(msgs))
	}

	// A second campaign the same day on the same channel: everyone in the first one's
	// audience (control and holdout included, so that caps treat the arms alike) is at
	// the daily cap of 1, so the target is empty.
	second := basic("second")
	second.Target.ExcludeUserIds = def.Target.ExcludeUserIds
	if _, err := svc.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	pv2, err := svc.Preview(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	if pv2.Capped != int64(len(audience)) || pv2.Eligible != 0 {
		t.Errorf("second campaign: got %d capped, %d eligible; want %d capped, none eligible", pv2.Capped, pv2.Eligible, len(audience))
	}
	if _, err := svc.Launch(ctx, "second"); !errors.Is(err, campaign.ErrEmptyTarget) {
		t.Errorf("second campaign launch: got %v, want ErrEmptyTarget", err)
	}
	// With a cap of 2 a day they are eligible again; the global control group is again
	// left alone.
	third := basic("third")
	third.FrequencyCap = &crmv1.FrequencyCap{PerDay: 2}
	third.Target.ExcludeUserIds = def.Target.ExcludeUserIds
	if _, err := svc.Create(ctx, third); err != nil {
		t.Fatal(err)
	}
	c3, err := svc.Launch(ctx, "third")
	if err != nil {
		t.Fatal(err)
	}
	if c3.GetAudienceSize() != int64(len(audience)) {
		t.Errorf("third campaign audience: got %d, want %d", c3.GetAudienceSize(), len(audience))
	}
	msgs3, _ := s.Messages(ctx, "third")
	if len(msgs3) == 0 {
		t.Fatalf("third campaign sent nothing")
	}
	for _, m := range msgs3 {
		if campaign.InGlobalControl(m.UserID, 10) {
			t.Errorf("global control member %s messaged by the third campaign", m.UserID)
		}
	}
}

func TestEmptyTargetIsReportedBeforeLaunch(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 50)
	svc := newService(t, s, campaign.Config{})
	ctx := context.Background()
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		def  *crmv1.Campaign
	}{
		{"unknown segment", func() *crmv1.Campaign { c := basic("empty-seg"); c.Target.SegmentIds = []string{"nobody"}; return c }()},
		{"filters exclude all", func() *crmv1.Campaign {
			c := basic("empty-filter")
			c.Target.Predictions = &crmv1.PredictionFilter{MinPurchasePropensity: f(0.99)}
			return c
		}()},
		{"scheduled", func() *crmv1.Campaign {
			c := basic("empty-at")
			c.Target.SegmentIds = []string{"nobody"}
			c.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_AT, At: timestamppb.New(now.Add(time.Hour))}
			return c
		}()},
	}
	for _, tt := range tests {
		if _, err := svc.Create(ctx, tt.def); err != nil {
			t.Fatal(err)
		}
		pv, err := svc.Preview(ctx, tt.def.GetCampaignId())
		if err != nil || pv.TreatedTotal() != 0 {
			t.Errorf("%s: preview got %+v %v, want nobody treated", tt.name, pv, err)
		}
		if _, err := svc.Launch(ctx, tt.def.GetCampaignId()); !errors.Is(err, campaign.ErrEmptyTarget) {
			t.Errorf("%s: launch got %v, want ErrEmptyTarget", tt.name, err)
		}
		c, _ := svc.Get(ctx, tt.def.GetCampaignId())
		if c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_DRAFT {
			t.Errorf("%s: state after refused launch: got %v, want draft", tt.name, c.GetState())
		}
	}
}

func TestScheduledLaunch(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 100)
	clock := now
	svc := newService(t, s, campaign.Config{Now: func() time.Time { return clock }})
	ctx := context.Background()
	def := basic("later")
	def.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_AT, At: timestamppb.New(now.Add(time.Hour))}
	if _, err := svc.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Launch(ctx, "later")
	if err != nil || c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_SCHEDULED {
		t.Fatalf("launch of a scheduled campaign: got %v %v, want scheduled", c.GetState(), err)
	}
	if c, err := svc.Launch(ctx, "later"); err != nil || c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_SCHEDULED {
		t.Errorf("launch again before its time: got %v %v, want still scheduled", c.GetState(), err)
	}
	if err := svc.LaunchDue(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := s.Messages(ctx, "later"); len(msgs) != 0 {
		t.Errorf("messages before the time: got %d", len(msgs))
	}
	clock = now.Add(time.Hour)
	if err := svc.LaunchDue(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ = svc.Get(ctx, "later")
	if c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_LAUNCHED || !c.GetLaunchedAt().AsTime().Equal(clock) {
		t.Errorf("after its time: got %v at %v, want launched at %v", c.GetState(), c.GetLaunchedAt().AsTime(), clock)
	}
	if msgs, _ := s.Messages(ctx, "later"); len(msgs) == 0 {
		t.Errorf("no messages after the scheduled launch")
	}
	if _, err := svc.Cancel(ctx, "later"); !errors.Is(err, campaign.ErrState) {
		t.Errorf("cancel a launched campaign: got %v, want ErrState", err)
	}
}

// txWatch wraps the store to see the launch transaction: inTx is set while it is open,
// and crashInTx, when set, is called once the plan is built, before anything is written.
type txWatch struct {
	*store.Store
	inTx      atomic.Bool
	crashInTx func()
}

func (w *txWatch) Launch(ctx context.Context, id string, at time.Time, plan store.Planner) (store.Campaign, error) {
	return w.Store.Launch(ctx, id, at, func(ctx context.Context, c store.Campaign, cands func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		w.inTx.Store(true)
		defer w.inTx.Store(false)
		p, err := plan(ctx, c, cands)
		if err == nil && w.crashInTx != nil {
			w.crashInTx()
		}
		return p, err
	})
}

// fakeRecommender recommends "rec-for-<user>", fails for the users in fail, and calls
// onCall with the number of calls so far. It records whether it was ever called while
// the launch transaction was open.
type fakeRecommender struct {
	watch    *txWatch
	fail     map[string]bool
	onCall   func(n int64)
	calls    atomic.Int64
	calledTx atomic.Bool
}

func (r *fakeRecommender) Recommend(ctx context.Context, userID string, n int) ([]string, error) {
	if r.watch != nil && r.watch.inTx.Load() {
		r.calledTx.Store(true)
	}
	k := r.calls.Add(1)
	if r.onCall != nil {
		r.onCall(k)
	}
	if r.fail[userID] {
		return nil, errors.New("recommender unavailable")
	}
	return []string{"rec-for-" + userID}, nil
}

func TestCrashMidLaunchLosesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// crash cancels the launch's context: during the recommendation prefetch (before
		// the transaction) or inside the transaction once the plan is built.
		inTx bool
	}{{"while fetching recommendations", false}, {"inside the launch transaction", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			seed(t, s, 300)
			def := basic("crash")
			def.Content.Recommendations = 1

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &txWatch{Store: s}
			rec := &fakeRecommender{watch: w}
			if tt.inTx {
				w.crashInTx = cancel
			} else {
				rec.onCall = func(n int64) {
					if n == 100 {
						cancel()
					}
				}
			}
			svc := newService(t, w, campaign.Config{Recommender: rec, RecommendConcurrency: 4})
			if _, err := svc.Create(context.Background(), def); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Launch(ctx, "crash"); !errors.Is(err, context.Canceled) {
				t.Fatalf("launch cancelled midway: got %v, want context.Canceled", err)
			}
			if rec.calls.Load() < 100 {
				t.Fatalf("recommender called %d times, want at least 100", rec.calls.Load())
			}
			bg := context.Background()
			if c, _ := svc.Get(bg, "crash"); c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_DRAFT {
				t.Errorf("state after the crash: got %v, want draft", c.GetState())
			}
			if a, _ := s.Audience(bg, "crash"); len(a) != 0 {
				t.Errorf("audience after the crash: got %d rows, want none", len(a))
			}
			if m, _ := s.Messages(bg, "crash"); len(m) != 0 {
				t.Errorf("outbox after the crash: got %d messages, want none", len(m))
			}

			// The restarted service launches in full.
			w2 := &txWatch{Store: s}
			rec2 := &fakeRecommender{watch: w2}
			svc2 := newService(t, w2, campaign.Config{Recommender: rec2})
			pv, err := svc2.Preview(bg, "crash")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc2.Launch(bg, "crash"); err != nil {
				t.Fatalf("launch after restart: %v", err)
			}
			msgs, _ := s.Messages(bg, "crash")
			if int64(len(msgs)) != pv.TreatedTotal() {
				t.Errorf("messages after restart: got %d, want %d", len(msgs), pv.TreatedTotal())
			}
			for _, m := range msgs {
				var cm crmv1.CampaignMessage
				if err := proto.Unmarshal(m.Payload, &cm); err != nil || len(cm.GetItemIds()) != 1 || cm.GetItemIds()[0] != "rec-for-"+m.UserID {
					t.Errorf("message to %s: items %v %v", m.UserID, cm.GetItemIds(), err)
				}
			}
			if rec.calledTx.Load() || rec2.calledTx.Load() {
				t.Errorf("the recommender was called while the launch transaction was open")
			}
		})
	}
}

// slowRecommender blocks until the call's context ends for the users in slow.
type slowRecommender struct{ slow map[string]bool }

func (r slowRecommender) Recommend(ctx context.Context, userID string, n int) ([]string, error) {
	if r.slow[userID] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return []string{"rec-for-" + userID}, nil
}

func TestRecommenderFailuresFallBackToNoItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  func(bad map[string]bool) campaign.Recommender
	}{
		{"errors", func(bad map[string]bool) campaign.Recommender { return &fakeRecommender{fail: bad} }},
		{"timeouts", func(bad map[string]bool) campaign.Recommender { return slowRecommender{slow: bad} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			seed(t, s, 60)
			bad := map[string]bool{"u0002": true, "u0010": true, "u0020": true}
			svc := newService(t, s, campaign.Config{ControlPercent: 1, Recommender: tt.rec(bad), RecommendTimeout: 20 * time.Millisecond})
			def := basic("fallback")
			def.Content.Recommendations = 3
			ctx := context.Background()
			if _, err := svc.Create(ctx, def); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Launch(ctx, "fallback"); err != nil {
				t.Fatalf("launch with a failing recommender: %v", err)
			}
			msgs, _ := s.Messages(ctx, "fallback")
			if len(msgs) == 0 {
				t.Fatal("no messages")
			}
			without := 0
			for _, m := range msgs {
				var cm crmv1.CampaignMessage
				if err := proto.Unmarshal(m.Payload, &cm); err != nil {
					t.Fatal(err)
				}
				switch {
				case bad[m.UserID] && len(cm.GetItemIds()) != 0:
					t.Errorf("message to %s: got items %v, want none (the recommender failed)", m.UserID, cm.GetItemIds())
				case bad[m.UserID]:
					without++
				case len(cm.GetItemIds()) != 1 || cm.GetItemIds()[0] != "rec-for-"+m.UserID:
					t.Errorf("message to %s: got items %v", m.UserID, cm.GetItemIds())
				}
			}
			if without == 0 {
				t.Errorf("no message to a user the recommender failed for: the test checks nothing")
			}
		})
	}
}

func TestPersonalisedOfferWithinBudget(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 100)
	svc := newService(t, s, campaign.Config{ControlPercent: 1})
	ctx := context.Background()
	def := basic("personal")
	def.Offer = &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERSONALISED, MaxPercentOff: 40, ListPriceMinor: 10000,
		FloorPriceMinor: 7000, Currency: "CNY", BudgetMinor: 50000, ItemId: "course-1", CouponCode: "VIP"}
	if _, err := svc.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Launch(ctx, "personal"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Messages(ctx, "personal")
	var total int64
	withOffer := 0
	for _, m := range msgs {
		var cm crmv1.CampaignMessage
		if err := proto.Unmarshal(m.Payload, &cm); err != nil {
			t.Fatal(err)
		}
		d := cm.GetOfferDiscountMinor()
		total += d
		if d > 0 {
			withOffer++
			// No orders: sensitivity 1/2; propensity k/100 → 40 % · 0.5 · (1 − k/100).
			var k int
			_, _ = fmt.Sscanf(m.UserID, "u%04d", &k)
			want := int64(10000 * 0.40 * 0.5 * (1 - float64(k)/100))
			if d < want-1 || d > want+1 || cm.GetOfferPriceMinor() != 10000-d || cm.GetCouponCode() != "VIP" || cm.GetOfferItemId() != "course-1" {
				t.Errorf("offer of %s: got %d off (price %d), want about %d", m.UserID, d, cm.GetOfferPriceMinor(), want)
			}
		}
		if m.DiscountMinor != d {
			t.Errorf("outbox discount of %s: got %d, want %d", m.UserID, m.DiscountMinor, d)
		}
	}
	if total > 50000 {
		t.Errorf("discounts offered: got %d, want at most the budget 50000", total)
	}
	if withOffer == 0 || withOffer == len(msgs) {
		t.Errorf("users with an offer: got %d of %d, want the budget to run out part way", withOffer, len(msgs))
	}
}
