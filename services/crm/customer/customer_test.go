package customer_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/crm/customer"
	"github.com/stratahq/strata/services/crm/store"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// feed hands messages to the handler with increasing offsets per topic.
type feed struct {
	t       *testing.T
	h       *customer.Handler
	offsets map[string]int64
}

func (f *feed) send(topic string, key string, m proto.Message) error {
	f.t.Helper()
	var v []byte
	if m != nil {
		var err error
		if v, err = proto.Marshal(m); err != nil {
			f.t.Fatal(err)
		}
	}
	off := f.offsets[topic]
	f.offsets[topic]++
	return f.h.Handle(context.Background(), bus.Message{Topic: topic, Key: []byte(key), Value: v, Offset: off})
}

func (f *feed) must(topic, key string, m proto.Message) {
	f.t.Helper()
	if err := f.send(topic, key, m); err != nil {
		f.t.Fatalf("Handle %s: %v", topic, err)
	}
}

func track(id, user, name string, at time.Time, props map[string]any) *eventv1.Event {
	p, err := structpb.NewStruct(props)
	if err != nil {
		panic(err)
	}
	return &eventv1.Event{EventId: id, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, UserId: user,
		Timestamp: timestamppb.New(at), Properties: p}
}

func TestEventsBuildThe360(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	f := &feed{t: t, h: customer.NewHandler(s, nil), offsets: map[string]int64{}}
	u := "u1"
	f.must(topics.Events, u, &eventv1.Event{EventId: "e0", Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, UserId: u, Timestamp: timestamppb.New(t0.Add(-time.Hour))})
	f.must(topics.Events, u, track("e1", u, "Lesson Completed", t0, map[string]any{"item_id": "c1", "minutes": 12}))
	// An order with the typed payload ingest fills.
	order := track("e2", u, "Order Completed", t0.Add(time.Minute), map[string]any{"order_id": "o1"})
	order.Order = &eventv1.Order{OrderId: "o1", RevenueMinor: 8000, DiscountMinor: 2000, Currency: "CNY", Coupon: "NEWUSER20",
		Items: []*eventv1.OrderItem{{ItemId: "c1", Quantity: 1, PriceMinor: 10000}}}
	f.must(topics.Events, u, order)
	// An order with Segment properties only.
	f.must(topics.Events, u, track("e3", u, "Order Completed", t0.Add(2*time.Minute), map[string]any{
		"order_id": "o2", "revenue": 99.5, "currency": "CNY", "products": []any{map[string]any{"product_id": "c2", "price": 99.5}}}))
	f.must(topics.Events, u, track("e4", u, "Order Refunded", t0.Add(3*time.Minute), map[string]any{"order_id": "o2", "revenue_minor": 9950, "currency": "CNY"}))
	f.must(topics.Events, u, track("e5", u, "Item Rated", t0.Add(4*time.Minute), map[string]any{"item_id": "c1", "rating": 2}))
	f.must(topics.Events, u, track("e6", u, "Survey Answered", t0.Add(5*time.Minute), map[string]any{"survey": "nps", "score": 4}))
	f.must(topics.Events, u, track("e7", u, "Survey Answered", t0.Add(6*time.Minute), map[string]any{"survey": "nps", "score": 11})) // off scale
	f.must(topics.Events, u, track("e8", u, "Message Opened", t0.Add(7*time.Minute), map[string]any{"campaign_id": "cmp", "message_id": "m1"}))
	f.must(topics.Events, u, track("e9", u, "Support Ticket Opened", t0.Add(8*time.Minute), map[string]any{"ticket_id": "t1"}))
	// The same event written again at a later offset changes nothing.
	f.must(topics.Events, u, order)
	f.must(topics.Events, u, track("e6", u, "Survey Answered", t0.Add(5*time.Minute), map[string]any{"survey": "nps", "score": 4}))

	c, err := s.Customer(context.Background(), u, 100)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	if c.OrderCount != 2 || c.RevenueMinor != 17950 || c.Refunds != 1 || c.RefundedMinor != 9950 || c.Currency != "CNY" {
		t.Errorf("orders: got %d orders, revenue %d, refunds %d/%d %s; want 2, 17950, 1/9950 CNY",
			c.OrderCount, c.RevenueMinor, c.Refunds, c.RefundedMinor, c.Currency)
	}
	if got, want := len(c.Interactions), 9; got != want {
		t.Errorf("interactions: got %d, want %d (identify is not on the timeline)", got, want)
	}
	kinds := map[string]string{}
	for _, i := range c.Interactions {
		kinds[i.EventID] = i.Kind
	}
	for id, want := range map[string]string{"e1": "learning", "e2": "purchase", "e4": "refund", "e5": "rating", "e8": "message", "e9": "ticket"} {
		if kinds[id] != want {
			t.Errorf("kind of %s: got %q, want %q", id, kinds[id], want)
		}
	}
	if !c.FirstSeen.Equal(t0.Add(-time.Hour)) || !c.LastInteraction.Equal(t0.Add(8*time.Minute)) {
		t.Errorf("times: got %v..%v", c.FirstSeen, c.LastInteraction)
	}
	var o2 store.Order
	for _, o := range c.Orders {
		if o.OrderID == "o2" {
			o2 = o
		}
	}
	if o2.RevenueMinor != 9950 || o2.RefundedMinor != 9950 || len(o2.Items) != 1 || o2.Items[0].PriceMinor != 9950 {
		t.Errorf("order o2 from properties: got %+v", o2)
	}
	if got := len(c.Feedback); got != 2 {
		t.Errorf("feedback: got %d answers, want 2 (rating and nps; the off-scale answer is dropped)", got)
	}
	if len(c.OpenTasks) != 1 || c.OpenTasks[0].Reason != customer.ReasonNPSDetractor || c.OpenTasks[0].Score != 4 {
		t.Errorf("follow-up tasks: got %+v, want one nps_detractor task with score 4", c.OpenTasks)
	}
}

func TestProfilesPredictionsSegmentsCatalog(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	f := &feed{t: t, h: customer.NewHandler(s, nil), offsets: map[string]int64{}}
	u := "u2"
	f.must(topics.Profiles, u, &profilev1.Profile{UserId: u, Version: 7, Consent: map[string]bool{"email": true},
		Rfm: &profilev1.Rfm{Tier: "Champions"}, Activity: &profilev1.Activity{Days: []*profilev1.DayBucket{{Day: 1}}},
		FirstSeen: timestamppb.New(t0)})
	f.must(topics.Predictions, u, &predictionv1.Prediction{UserId: u, PurchasePropensity: 0.8, ChurnRisk: 0.1, ScoredAt: timestamppb.New(t0)})
	f.must(topics.Segments, u, &profilev1.SegmentEvent{UserId: u, SegmentId: "vip", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER, ProfileVersion: 7})
	f.must(topics.Segments, u, &profilev1.SegmentEvent{UserId: u, SegmentId: "new", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER, ProfileVersion: 1})
	f.must(topics.Segments, u, &profilev1.SegmentEvent{UserId: u, SegmentId: "new", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT, ProfileVersion: 7})
	f.must(topics.Profiles, u, nil) // tombstone: no error
	f.must(topics.Catalog, "i1", &eventv1.CatalogItem{ItemId: "i1", CreatorId: "cr1", Title: "t", Type: eventv1.ItemType_ITEM_TYPE_COURSE})
	f.must(topics.Catalog, "i1", nil)

	c, err := s.Customer(context.Background(), u, 10)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	var p profilev1.Profile
	if err := proto.Unmarshal(c.Profile, &p); err != nil {
		t.Fatalf("profile snapshot: %v", err)
	}
	if p.GetVersion() != 7 || p.GetActivity() != nil || c.RFMTier != "Champions" || !c.Consent["email"] {
		t.Errorf("profile: got version %d activity %v tier %q consent %v; want 7, none, Champions, email", p.GetVersion(), p.GetActivity(), c.RFMTier, c.Consent)
	}
	var pr predictionv1.Prediction
	if err := proto.Unmarshal(c.Prediction, &pr); err != nil || pr.GetPurchasePropensity() != 0.8 {
		t.Errorf("prediction: got %v %v", pr.GetPurchasePropensity(), err)
	}
	if len(c.Segments) != 1 || c.Segments[0] != "vip" {
		t.Errorf("segments: got %v, want [vip]", c.Segments)
	}
	cands, err := s.Candidates(context.Background(), store.TargetQuery{SegmentIDs: []string{"vip"}, Channel: "email"})
	if err != nil || len(cands) != 1 || !cands[0].Consent || cands[0].PurchasePropensity != 0.8 {
		t.Errorf("candidates of vip: got %+v %v", cands, err)
	}
}

func TestRedeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	h := customer.NewHandler(s, nil)
	ev := track("r1", "u3", "Order Completed", t0, map[string]any{"order_id": "o9", "revenue_minor": 500, "currency": "CNY"})
	v, _ := proto.Marshal(ev)
	msg := bus.Message{Topic: topics.Events, Key: []byte("u3"), Value: v, Partition: 2, Offset: 41}
	for range 3 {
		if err := h.Handle(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Customer(context.Background(), "u3", 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.OrderCount != 1 || c.RevenueMinor != 500 || len(c.Interactions) != 1 {
		t.Errorf("after 3 deliveries: got %d orders, %d revenue, %d interactions; want 1, 500, 1", c.OrderCount, c.RevenueMinor, len(c.Interactions))
	}
}

// TestBatch checks that a batch is applied as its messages one by one would be, a
// redelivered batch changes nothing, and a batch holding a bad message writes nothing
// (the consumer then hands its messages over one at a time).
func TestBatch(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	h := customer.NewHandler(s, nil)
	ctx := context.Background()
	msg := func(id, user string, off int64) bus.Message {
		v := mustMarshal(t, track(id, user, "Order Completed", t0, map[string]any{"order_id": "o-" + id, "revenue_minor": 300, "currency": "CNY"}))
		return bus.Message{Topic: topics.Events, Key: []byte(user), Value: v, Partition: 1, Offset: off}
	}
	batch := []bus.Message{msg("b1", "bu1", 1), msg("b2", "bu2", 2), msg("b3", "bu1", 3)}
	for range 2 {
		if err := h.HandleBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	for user, want := range map[string]int64{"bu1": 2, "bu2": 1} {
		c, err := s.Customer(ctx, user, 10)
		if err != nil {
			t.Fatal(err)
		}
		if c.OrderCount != want || c.RevenueMinor != 300*want {
			t.Errorf("%s: got %d orders, %d revenue; want %d, %d", user, c.OrderCount, c.RevenueMinor, want, 300*want)
		}
	}
	bad := []bus.Message{msg("b4", "bu3", 4), {Topic: topics.Events, Value: []byte{0xff}, Partition: 1, Offset: 5}}
	if err := h.HandleBatch(ctx, bad); !bus.IsPermanent(err) {
		t.Errorf("batch with a bad message: got %v, want a permanent error", err)
	}
	if _, err := s.Customer(ctx, "bu3", 10); err == nil {
		t.Errorf("batch with a bad message wrote customer bu3")
	}
}

func TestBadMessagesArePermanent(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	h := customer.NewHandler(s, nil)
	noUser, _ := proto.Marshal(&eventv1.Event{EventId: "x", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Lesson Started", Timestamp: timestamppb.New(t0)})
	badSeg, _ := proto.Marshal(&profilev1.SegmentEvent{UserId: "u", SegmentId: "s"})
	tests := []struct {
		name string
		msg  bus.Message
	}{
		{"garbage event", bus.Message{Topic: topics.Events, Value: []byte{0xff, 0xff, 0xff}}},
		{"event without user", bus.Message{Topic: topics.Events, Value: noUser}},
		{"segment event without type", bus.Message{Topic: topics.Segments, Value: badSeg}},
		{"profile without user", bus.Message{Topic: topics.Profiles, Value: []byte{}}},
		{"unknown topic", bus.Message{Topic: "strata.other.v1", Value: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Handle(context.Background(), tt.msg)
			if !bus.IsPermanent(err) {
				t.Errorf("got %v, want a permanent error", err)
			}
		})
	}
	if err := h.Handle(context.Background(), bus.Message{Topic: topics.Events, Value: noUser}); !errors.Is(err, customer.ErrMissingUser) {
		t.Errorf("event without user: got %v, want ErrMissingUser", err)
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"Lesson Started": "learning", "Order Completed": "purchase", "Order Refunded": "refund", "Item Rated": "rating",
		"Review Submitted": "review", "Support Ticket Resolved": "ticket", "Message Clicked": "message",
		"Survey Answered": "survey", "Subscription Renewed": "subscription", "Product Viewed": "browse", "Custom Thing": "other",
	}
	for event, want := range tests {
		if got := customer.Kind(event); got != want {
			t.Errorf("Kind(%q): got %q, want %q", event, got, want)
		}
	}
}

func TestRenewalsAndReferralsAreOrders(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	f := &feed{t: t, h: customer.NewHandler(s, nil), offsets: map[string]int64{}}
	f.must(topics.Events, "u4", track("s1", "u4", "Subscription Renewed", t0, map[string]any{"subscription_id": "sub1", "plan_id": "m1", "revenue_minor": 3000, "currency": "CNY"}))
	f.must(topics.Events, "u4", track("s2", "u4", "Order Completed", t0.Add(time.Hour), map[string]any{"order_id": "o1", "revenue_minor": 5000, "currency": "CNY",
		"referrer_creator_id": "alice", "products": []any{map[string]any{"product_id": "c1", "price_minor": 5000}}}))
	c, err := s.Customer(context.Background(), "u4", 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.OrderCount != 2 || c.RevenueMinor != 8000 {
		t.Errorf("orders: got %d, revenue %d; want 2 and 8000", c.OrderCount, c.RevenueMinor)
	}
	var renewal store.Order
	for _, o := range c.Orders {
		if o.OrderID == "s1" {
			renewal = o
		}
	}
	if len(renewal.Items) != 1 || renewal.Items[0].ItemID != "m1" || renewal.Items[0].PriceMinor != 3000 {
		t.Errorf("renewal order: got %+v, want one line of plan m1 at 3000", renewal)
	}
	rows, err := s.Revenue(context.Background(), store.RevenueQuery{Dimension: store.RevenueByMonth, From: 202611, To: 202611, Currency: "CNY"})
	if err != nil || len(rows) != 1 || rows[0].GMVMinor != 8000 || rows[0].Active != 1 || rows[0].Paying != 1 {
		t.Errorf("revenue: got %+v %v", rows, err)
	}
	if err := s.PutRevenueShareRule(context.Background(), store.RevenueShareRule{RuleID: "a", CreatorID: "alice", EffectiveMonth: 202601}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), store.Position{Topic: "catalog-seed"}, func(ctx context.Context, tx *store.Tx) error {
		return tx.PutCatalogItem(ctx, store.CatalogItem{ItemID: "c1", CreatorID: "alice"})
	}); err != nil {
		t.Fatal(err)
	}
	act, err := s.CreatorActivity(context.Background(), "alice", 202611, "CNY")
	if err != nil || len(act.Sales) != 1 || act.Sales[0].Referrer != "alice" {
		t.Errorf("alice's sales: got %+v %v, want o1 referred by alice", act.Sales, err)
	}
}

// TestPrivacyRequestWireFormat checks that strata.privacy.v1.PrivacyRequest reads the
// records written when it was strata.crm.v1.PrivacyRequest: same field numbers and types.
func TestPrivacyRequestWireFormat(t *testing.T) {
	t.Parallel()
	// request_id "r" (1, bytes), user_id "u" (2, bytes), action ERASE (3, varint 1),
	// requested_at {seconds: 5} (4, message).
	old := []byte{0x0a, 0x01, 'r', 0x12, 0x01, 'u', 0x18, 0x01, 0x22, 0x02, 0x08, 0x05}
	var got privacyv1.PrivacyRequest
	if err := proto.Unmarshal(old, &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := &privacyv1.PrivacyRequest{RequestId: "r", UserId: "u", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE,
		RequestedAt: &timestamppb.Timestamp{Seconds: 5}}
	if !proto.Equal(&got, want) {
		t.Errorf("got %v, want %v", &got, want)
	}
	if b, err := (proto.MarshalOptions{Deterministic: true}).Marshal(want); err != nil || string(b) != string(old) {
		t.Errorf("Marshal: got %x (%v), want %x", b, err, old)
	}
}

func TestPrivacyRequestErasesTheCustomer(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	f := &feed{t: t, h: customer.NewHandler(s, nil), offsets: map[string]int64{}}
	u := "gdpr-user"
	f.must(topics.Events, u, track("pe1", u, "Order Completed", t0, map[string]any{"order_id": "po1", "revenue": 19.9, "currency": "CNY"}))
	f.must(topics.Profiles, u, &profilev1.Profile{UserId: u, Version: 1, Consent: map[string]bool{"email": true}})
	ctx := context.Background()
	if _, err := s.Customer(ctx, u, 10); err != nil {
		t.Fatalf("Customer before erasure: %v", err)
	}
	// The key names the user when the value does not.
	req := &privacyv1.PrivacyRequest{RequestId: "req-9", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}
	f.must(topics.Privacy, u, req)
	if _, err := s.Customer(ctx, u, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Customer after erasure: got %v, want ErrNotFound", err)
	}
	e, err := s.Erasure(ctx, "req-9")
	if err != nil || e.Rows == 0 {
		t.Errorf("erasure record: got %+v %v", e, err)
	}
	rev, err := s.Revenue(ctx, store.RevenueQuery{From: store.Month(t0), To: store.Month(t0), Currency: "CNY"})
	if err != nil || len(rev) != 1 || rev[0].GMVMinor != 1990 || rev[0].Paying != 1 {
		t.Errorf("revenue after erasure: got %+v %v, want the order still counted", rev, err)
	}
	// Other actions are not the CRM's; a request without an id is dead-lettered.
	f.must(topics.Privacy, u, &privacyv1.PrivacyRequest{RequestId: "req-10", UserId: u})
	if err := f.send(topics.Privacy, u, &privacyv1.PrivacyRequest{UserId: u, Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}); !bus.IsPermanent(err) {
		t.Errorf("request without an id: got %v, want a permanent error", err)
	}
}

func TestSegmentEntriesWakeTheScheduler(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	h := customer.NewHandler(s, nil)
	woken := 0
	h.OnSegmentEntry(func() { woken++ })
	f := &feed{t: t, h: h, offsets: map[string]int64{}}
	f.must(topics.Segments, "u9", &profilev1.SegmentEvent{UserId: "u9", SegmentId: "s", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER, ProfileVersion: 1})
	f.must(topics.Segments, "u9", &profilev1.SegmentEvent{UserId: "u9", SegmentId: "s", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT, ProfileVersion: 2})
	// A redelivery (same offset) applies nothing and wakes nothing.
	if err := h.Handle(context.Background(), bus.Message{Topic: topics.Segments, Key: []byte("u9"), Offset: 0,
		Value: mustMarshal(t, &profilev1.SegmentEvent{UserId: "u9", SegmentId: "s", Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER, ProfileVersion: 1})}); err != nil {
		t.Fatal(err)
	}
	if woken != 1 {
		t.Errorf("scheduler woken %d times, want once (the entry; not the exit nor the redelivery)", woken)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPredictionTombstoneIsSkipped: the prediction service tombstones an erased user's
// prediction on strata.predictions.v1; the CRM applies it as a no-op (the erasure request
// itself anonymises the rows), without an error that would dead-letter it, and files no
// customer under the erased id.
func TestPredictionTombstoneIsSkipped(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	f := &feed{t: t, h: customer.NewHandler(s, nil), offsets: map[string]int64{}}
	for range 2 { // a second tombstone changes nothing either
		if err := f.send(topics.Predictions, "erased", nil); err != nil {
			t.Fatalf("Handle(prediction tombstone): got %v, want nil", err)
		}
	}
	if _, err := s.Customer(context.Background(), "erased", 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Customer after a prediction tombstone: got %v, want ErrNotFound", err)
	}
}

func TestErasureReceipts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	h := customer.NewHandler(s, nil)
	pub := &bustest.Recorder{}
	h.PublishReceipts(pub)
	f := &feed{t: t, h: h, offsets: map[string]int64{}}
	u := "receipt-user"
	f.must(topics.Events, u, track("re1", u, "Order Completed", t0, map[string]any{"order_id": "ro1", "revenue": 9.9, "currency": "CNY"}))
	erase := &privacyv1.PrivacyRequest{RequestId: "req-r", UserId: u, Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}
	f.must(topics.Privacy, u, erase)

	// The CRM's own receipt: recorded with the erasure, then published.
	msgs := pub.Messages()
	if len(msgs) != 1 || msgs[0].Topic != topics.PrivacyReceipts || string(msgs[0].Key) != "req-r/crm" {
		t.Fatalf("published: got %v, want one receipt keyed req-r/crm on %s", msgs, topics.PrivacyReceipts)
	}
	var published privacyv1.ErasureReceipt
	if err := proto.Unmarshal(msgs[0].Value, &published); err != nil || published.GetUserId() != u ||
		published.GetService() != customer.ReceiptService || published.GetItems() == 0 || published.GetCompletedAt() == nil {
		t.Errorf("published receipt: got %v (%v), want the CRM's receipt for %s with the rows it changed", &published, err, u)
	}
	got, err := s.ErasureReceipts(ctx, "req-r")
	if err != nil || len(got) != 1 || got[0].Service != customer.ReceiptService || got[0].Items != published.GetItems() {
		t.Errorf("stored receipts: got %+v %v, want the CRM's", got, err)
	}

	// Receipts of the other services, as consumed; the CRM's own, consumed back, and a
	// redelivered one change nothing.
	for _, svc := range []string{"profile", "ingest", "crm", "profile"} {
		f.must(topics.PrivacyReceipts, "req-r/"+svc, &privacyv1.ErasureReceipt{RequestId: "req-r", UserId: u, Service: svc,
			CompletedAt: timestamppb.New(t0), Items: 1})
	}
	if got, err = s.ErasureReceipts(ctx, "req-r"); err != nil || len(got) != 3 || got[0].Items != published.GetItems() {
		t.Errorf("stored receipts: got %+v %v, want crm (first kept), ingest and profile", got, err)
	}
	for _, bad := range []*privacyv1.ErasureReceipt{{UserId: u, Service: "x"}, {RequestId: "r", UserId: u}, {RequestId: "r", Service: "x"}} {
		if err := f.send(topics.PrivacyReceipts, "k", bad); !bus.IsPermanent(err) {
			t.Errorf("receipt %v: got %v, want a permanent error", bad, err)
		}
	}

	// A failed publish fails the batch; its redelivery publishes the receipt again.
	pub.SetErr(errors.New("broker down"))
	if err := f.h.Handle(ctx, bus.Message{Topic: topics.Privacy, Key: []byte(u), Value: mustMarshal(t, erase), Offset: 100}); err == nil {
		t.Errorf("Handle with the receipt unpublishable: got nil, want an error")
	}
	pub.SetErr(nil)
	if err := f.h.Handle(ctx, bus.Message{Topic: topics.Privacy, Key: []byte(u), Value: mustMarshal(t, erase), Offset: 100}); err != nil {
		t.Fatalf("Handle redelivered: %v", err)
	}
	// The recorder keeps the failed attempt too: first, failed, redelivered.
	if msgs := pub.Messages(); len(msgs) != 3 || string(msgs[2].Key) != "req-r/crm" {
		t.Errorf("published after the redelivery: got %d messages, want 3, the last the receipt again", len(msgs))
	}
}
