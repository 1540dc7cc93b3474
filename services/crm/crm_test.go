package crm_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/crm"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/store"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type running struct {
	client crmv1.CRMServiceClient
	prod   *bus.Producer
	brok   []string
}

// start runs the CRM on an embedded broker and SQLite until the test ends.
func start(t *testing.T, dbCfg store.Config) *running {
	t.Helper()
	brokers := bustest.Brokers(t)
	if err := bus.EnsureTopics(context.Background(), bus.Config{Brokers: brokers}, topics.All()...); err != nil {
		t.Fatal(err)
	}
	g, h := listen(t), listen(t)
	tuning := bustest.ConsumerTuning(bus.ConsumerConfig{})
	cfg := crm.DefaultConfig()
	cfg.Server = server.Config{GRPCListener: g, HTTPListener: h, ShutdownTimeout: 10 * time.Second}
	cfg.Kafka = bus.Config{Brokers: brokers}
	cfg.Store = dbCfg
	cfg.Logger = bustest.Logger(t)
	cfg.Consumer = &tuning
	cfg.RelayInterval = 50 * time.Millisecond
	cfg.Campaign.ControlPercent = 10
	// Quiet hours off: the test waits for messages at any time of day (deferral has its
	// own tests in package campaign).
	cfg.Campaign.QuietStart, cfg.Campaign.QuietEnd = 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- crm.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("crm.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("crm did not stop within 30s")
		}
	})
	conn, err := grpc.NewClient(g.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &running{client: crmv1.NewCRMServiceClient(conn), prod: bustest.Producer(t, brokers, bus.ProducerConfig{}), brok: brokers}
}

func (r *running) publish(t *testing.T, topic, key string, m proto.Message) {
	t.Helper()
	v, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.prod.Publish(context.Background(), bus.Message{Topic: topic, Key: []byte(key), Value: v}); err != nil {
		t.Fatal(err)
	}
}

func track(id, user, name string, at time.Time, props map[string]any) *eventv1.Event {
	p, _ := structpb.NewStruct(props)
	return &eventv1.Event{EventId: id, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, UserId: user, Timestamp: timestamppb.New(at), Properties: p}
}

func TestService(t *testing.T) {
	t.Parallel()
	r := start(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")})
	ctx := context.Background()
	launchAt := time.Now().UTC()

	// 60 customers: profile (email consent), prediction, segment "spring".
	const n = 60
	for k := range n {
		u := fmt.Sprintf("c%03d", k)
		r.publish(t, topics.Profiles, u, &profilev1.Profile{UserId: u, Version: 1, Consent: map[string]bool{"email": true}, Rfm: &profilev1.Rfm{Tier: "Loyal"}})
		r.publish(t, topics.Predictions, u, &predictionv1.Prediction{UserId: u, PurchasePropensity: 0.5, ScoredAt: timestamppb.New(launchAt)})
		r.publish(t, topics.Segments, u, &profilev1.SegmentEvent{UserId: u, SegmentId: "spring", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER, ProfileVersion: 1})
	}
	r.publish(t, topics.Events, "c000", track("ev-1", "c000", "Survey Answered", launchAt.Add(-time.Hour), map[string]any{"survey": "nps", "score": 2}))

	eventually(t, "customer 360 of c059 with its segment", func() bool {
		c, err := r.client.GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: "c059"})
		return err == nil && len(c.GetSegments()) == 1
	})
	eventually(t, "the detractor's follow-up task", func() bool {
		resp, err := r.client.ListFollowUpTasks(ctx, &crmv1.ListFollowUpTasksRequest{OpenOnly: true})
		return err == nil && len(resp.GetTasks()) == 1 && resp.GetTasks()[0].GetUserId() == "c000"
	})
	c, err := r.client.GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: "c000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GetProfile().GetRfm().GetTier() != "Loyal" || c.GetPrediction().GetPurchasePropensity() != 0.5 || !c.GetConsent()["email"] ||
		len(c.GetSatisfaction()) != 1 || len(c.GetOpenTasks()) != 1 || len(c.GetInteractions()) != 1 {
		t.Errorf("customer 360: got %v", c)
	}
	if _, err := r.client.GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: "nobody"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown customer: got %v, want NotFound", err)
	}

	// Bad definitions name the field.
	_, err = r.client.CreateCampaign(ctx, &crmv1.CreateCampaignRequest{Campaign: &crmv1.Campaign{Name: "x", Channel: crmv1.Channel_CHANNEL_EMAIL,
		Target: &crmv1.Target{SegmentIds: []string{"spring"}},
		Offer:  &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERCENT, ListPriceMinor: 100, Currency: "CNY"}}})
	if field := violation(t, err); field != "campaign.offer.percent_off" {
		t.Errorf("percent offer without percent: got field %q (%v)", field, err)
	}
	_, err = r.client.CreateCampaign(ctx, &crmv1.CreateCampaignRequest{Campaign: &crmv1.Campaign{Channel: crmv1.Channel_CHANNEL_EMAIL,
		Target: &crmv1.Target{SegmentIds: []string{"spring"}}}})
	if field := violation(t, err); field != "campaign.name" {
		t.Errorf("campaign without name: got field %q (%v)", field, err)
	}

	// An empty target is refused before launch.
	if _, err := r.client.CreateCampaign(ctx, &crmv1.CreateCampaignRequest{Campaign: &crmv1.Campaign{CampaignId: "nobody", Name: "n",
		Channel: crmv1.Channel_CHANNEL_EMAIL, Target: &crmv1.Target{SegmentIds: []string{"winter"}}}}); err != nil {
		t.Fatal(err)
	}
	pv, err := r.client.PreviewAudience(ctx, &crmv1.PreviewAudienceRequest{CampaignId: "nobody"})
	if err != nil || !pv.GetEmpty() {
		t.Errorf("preview of an empty target: got %v %v", pv, err)
	}
	if _, err := r.client.LaunchCampaign(ctx, &crmv1.LaunchCampaignRequest{CampaignId: "nobody"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("launch of an empty target: got %v, want FailedPrecondition", err)
	}

	// A real campaign: preview, launch, messages on Kafka, conversions, report.
	def := &crmv1.Campaign{CampaignId: "spring-sale", Name: "Spring sale", Channel: crmv1.Channel_CHANNEL_EMAIL,
		Target:  &crmv1.Target{SegmentIds: []string{"spring"}},
		Offer:   &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_FIXED, AmountOffMinor: 1000, ListPriceMinor: 9900, Currency: "CNY"},
		Content: &crmv1.Content{Title: "Spring", Body: "{{.Offer.DiscountMinor}} off"}}
	if _, err := r.client.CreateCampaign(ctx, &crmv1.CreateCampaignRequest{Campaign: def}); err != nil {
		t.Fatal(err)
	}
	pv, err = r.client.PreviewAudience(ctx, &crmv1.PreviewAudienceRequest{CampaignId: "spring-sale"})
	if err != nil || pv.GetCandidates() != n || pv.GetEligible() != n || pv.GetEmpty() {
		t.Fatalf("preview: got %v %v", pv, err)
	}
	var mu sync.Mutex
	delivered := map[string]*crmv1.CampaignMessage{}
	cons, err := bus.NewConsumer(bustest.ConsumerTuning(bus.ConsumerConfig{Config: bus.Config{Brokers: r.brok}, GroupID: bustest.Group(t),
		Topics: []string{topics.CRMMessages}}), func(_ context.Context, m bus.Message) error {
		var cm crmv1.CampaignMessage
		if err := proto.Unmarshal(m.Value, &cm); err != nil {
			return err
		}
		mu.Lock()
		delivered[cm.GetMessageId()] = &cm
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	consDone := make(chan error, 1)
	go func() { consDone <- cons.Run(cctx) }()
	defer func() {
		ccancel()
		<-consDone
	}()

	launched, err := r.client.LaunchCampaign(ctx, &crmv1.LaunchCampaignRequest{CampaignId: "spring-sale"})
	if err != nil || launched.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_LAUNCHED || launched.GetAudienceSize() != n {
		t.Fatalf("launch: got %v %v", launched, err)
	}
	treated := pv.GetTreated()[campaign.DefaultVariant]
	eventually(t, "every message on strata.crm.messages.v1", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(delivered)) == treated
	})
	if again, err := r.client.LaunchCampaign(ctx, &crmv1.LaunchCampaignRequest{CampaignId: "spring-sale"}); err != nil || again.GetAudienceSize() != n {
		t.Errorf("second launch: got %v %v", again, err)
	}
	mu.Lock()
	var messaged []string
	for _, m := range delivered {
		if campaign.InGlobalControl(m.GetUserId(), 10) {
			t.Errorf("control member %s was messaged", m.GetUserId())
		}
		if m.GetBody() != "1000 off" || m.GetCouponCode() != "SPRING-SALE" {
			t.Errorf("message %s: body %q coupon %q", m.GetMessageId(), m.GetBody(), m.GetCouponCode())
		}
		messaged = append(messaged, m.GetUserId())
	}
	mu.Unlock()

	// Two treated customers buy with the coupon, one opens the message.
	for k, u := range messaged[:2] {
		ev := track(fmt.Sprintf("buy-%d", k), u, "Order Completed", time.Now().UTC(), map[string]any{"order_id": "o-" + u})
		ev.Order = &eventv1.Order{OrderId: "o-" + u, RevenueMinor: 8900, DiscountMinor: 1000, Currency: "CNY", Coupon: "SPRING-SALE"}
		r.publish(t, topics.Events, u, ev)
	}
	r.publish(t, topics.Events, messaged[0], track("open-0", messaged[0], "Message Opened", time.Now().UTC(),
		map[string]any{"message_id": campaign.MessageID("spring-sale", messaged[0]), "campaign_id": "spring-sale"}))
	var rep *crmv1.CampaignReport
	eventually(t, "conversions in the report", func() bool {
		rep, err = r.client.GetCampaignReport(ctx, &crmv1.GetCampaignReportRequest{CampaignId: "spring-sale"})
		return err == nil && len(rep.GetVariants()) == 1 && rep.GetVariants()[0].GetConversions() == 2 && rep.GetVariants()[0].GetOpened() == 1
	})
	v := rep.GetVariants()[0]
	if v.GetAudience() != treated || v.GetSends() != treated || v.GetRevenueMinor() != 17800 || v.GetDiscountCostMinor() != 2000 {
		t.Errorf("variant report: got %v", v)
	}
	if rep.GetControl().GetAudience() != n-treated || rep.GetControl().GetConversions() != 0 {
		t.Errorf("control report: got %v", rep.GetControl())
	}
	if v.GetNetIncrementalRevenueMinor() != 17800-2000 || rep.GetGoalEvent() != "Order Completed" || rep.GetWindowHours() != 72 || rep.GetWindowClosed() {
		t.Errorf("report: got %v", rep)
	}

	// Satisfaction over gRPC.
	sat, err := r.client.GetSatisfactionReport(ctx, &crmv1.GetSatisfactionReportRequest{Dimension: crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_RFM_TIER})
	if err != nil || len(sat.GetGroups()) != 1 || sat.GetGroups()[0].GetKey() != "Loyal" || sat.GetGroups()[0].GetNps() != -100 {
		t.Errorf("satisfaction by tier: got %v %v", sat, err)
	}
	if _, err := r.client.SetDoNotContact(ctx, &crmv1.SetDoNotContactRequest{UserId: "c001", DoNotContact: true}); err != nil {
		t.Fatal(err)
	}
	if c, err := r.client.GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: "c001"}); err != nil || !c.GetDoNotContact() {
		t.Errorf("do not contact: got %v %v", c.GetDoNotContact(), err)
	}
	list, err := r.client.ListCampaigns(ctx, &crmv1.ListCampaignsRequest{})
	if err != nil || len(list.GetCampaigns()) != 2 {
		t.Errorf("ListCampaigns: got %v %v", list, err)
	}
	if _, err := r.client.GetCampaignReport(ctx, &crmv1.GetCampaignReportRequest{CampaignId: "nobody"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("report of a draft: got %v, want FailedPrecondition", err)
	}
	if _, err := r.client.CancelCampaign(ctx, &crmv1.CancelCampaignRequest{CampaignId: "spring-sale"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("cancel a launched campaign: got %v, want FailedPrecondition", err)
	}

	// Revenue: the two orders of this month, and a creator's statement.
	month := time.Now().UTC().Format("2006-01")
	rev, err := r.client.GetRevenueReport(ctx, &crmv1.GetRevenueReportRequest{FromMonth: month})
	if err != nil || len(rev.GetRows()) != 1 || rev.GetRows()[0].GetGmvMinor() != 17800 || rev.GetRows()[0].GetPayingUsers() != 2 {
		t.Errorf("revenue report: got %v %v", rev, err)
	}
	if _, err := r.client.GetRevenueReport(ctx, &crmv1.GetRevenueReportRequest{FromMonth: "2026-05", ToMonth: "2026-04"}); violation(t, err) != "to_month" {
		t.Errorf("revenue report with crossed months: got %v", err)
	}
	rule, err := r.client.SetRevenueShareRule(ctx, &crmv1.SetRevenueShareRuleRequest{Rule: &crmv1.RevenueShareRule{RuleId: "default", EffectiveMonth: "2020-01",
		OwnShareBps: 7000, PlatformShareBps: 5000, ClawbackDays: 30}})
	if err != nil || rule.GetEffectiveMonth() != "2020-01" {
		t.Errorf("SetRevenueShareRule: got %v %v", rule, err)
	}
	_, err = r.client.SetRevenueShareRule(ctx, &crmv1.SetRevenueShareRuleRequest{Rule: &crmv1.RevenueShareRule{RuleId: "d2", EffectiveMonth: "2020-01",
		CreatorCoupons: []string{"X"}}})
	if field := violation(t, err); field != "rule.creator_coupons" {
		t.Errorf("default rule with coupons: got field %q (%v)", field, err)
	}
	if _, err := r.client.SetRevenueShareRule(ctx, &crmv1.SetRevenueShareRuleRequest{Rule: &crmv1.RevenueShareRule{RuleId: "other", EffectiveMonth: "2020-01"}}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("second default rule for the same month: got %v, want AlreadyExists", err)
	}
	rules, err := r.client.ListRevenueShareRules(ctx, &crmv1.ListRevenueShareRulesRequest{})
	if err != nil || len(rules.GetRules()) != 1 {
		t.Errorf("ListRevenueShareRules: got %v %v", rules, err)
	}
	st, err := r.client.GetCreatorStatement(ctx, &crmv1.GetCreatorStatementRequest{CreatorId: "nobody", Month: month})
	if err != nil || len(st.GetLines()) != 0 || st.GetPayableMinor() != 0 {
		t.Errorf("statement of a creator without sales: got %v %v", st, err)
	}
}

// violation returns the first field violation of an InvalidArgument error.
func violation(t *testing.T, err error) string {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Errorf("got %v, want InvalidArgument", err)
		return ""
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := crm.DefaultConfig()
	ok.Kafka.Brokers = []string{"127.0.0.1:9092"}
	ok.Store.SQLitePath = "x.db"
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*crm.Config)
		want   error
	}{
		{"no database", func(c *crm.Config) { c.Store = store.Config{} }, store.ErrNoDatabase},
		{"no brokers", func(c *crm.Config) { c.Kafka.Brokers = nil }, bus.ErrMissingBrokers},
		{"control too large", func(c *crm.Config) { c.Campaign.ControlPercent = 20 }, campaign.ErrInvalidControlPercent},
		{"negative interval", func(c *crm.Config) { c.RelayInterval = -time.Second }, crm.ErrNegativeInterval},
	}
	for _, tt := range tests {
		c := ok
		tt.mutate(&c)
		if err := c.Validate(); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
