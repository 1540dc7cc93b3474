// Package customer builds the CRM's customer 360 from the topics it consumes:
// behaviour events (strata.events.v1) become the interactions timeline, orders,
// refunds, satisfaction answers and ratings, and detractor follow-up tasks; profiles
// (strata.profiles.v1) give the profile snapshot, RFM tier and channel consent;
// predictions (strata.predictions.v1) the latest scores; segment events
// (strata.segments.v1) the segment memberships campaigns target; catalog items
// (strata.catalog.v1) the creator of each item, for reports. Right-to-erasure requests
// (strata.privacy.v1) anonymise the user's rows (see store.Tx.EraseUser), keeping every
// aggregate and amount, and record the CRM's own erasure receipt in the same
// transaction; once committed, the receipt is published to strata.privacy.receipts.v1
// (see PublishReceipts). Receipts of every service (strata.privacy.receipts.v1) are
// recorded for GetErasureStatus.
//
// [Handler.Handle] is a plain bus handler. It is idempotent: each message is applied in
// one transaction together with its Kafka position (see store.Store.Apply), so a
// redelivered message changes nothing, and events carry stable ids, so the same event
// written twice at different offsets is applied once. Messages that cannot be decoded,
// or lack what the CRM needs (a user id), are permanent errors: the bus middleware
// dead-letters them. A Handler is safe for concurrent use.
package customer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// Event names the CRM reads (the Segment e-commerce names and Strata's own).
const (
	OrderCompleted = "Order Completed"
	OrderRefunded  = "Order Refunded"
	// SubscriptionRenewed bills a membership again: the CRM counts it as an order.
	SubscriptionRenewed = "Subscription Renewed"
	ItemRated           = "Item Rated"
	SurveyAnswered      = "Survey Answered"
	MessageDelivered    = "Message Delivered"
	MessageOpened       = "Message Opened"
	MessageClicked      = "Message Clicked"
)

// Satisfaction metrics and the follow-up reason a detractor answer opens.
const (
	MetricNPS    = "nps"
	MetricCSAT   = "csat"
	MetricCES    = "ces"
	MetricRating = "rating"

	ReasonNPSDetractor = "nps_detractor"
)

// Topics are the topics a Handler consumes.
func Topics() []string {
	return []string{topics.Events, topics.Profiles, topics.Predictions, topics.Segments, topics.Catalog, topics.Privacy,
		topics.PrivacyReceipts}
}

// ReceiptService is the service name of the CRM's erasure receipts.
const ReceiptService = "crm"

// ErrMissingUser is returned (as a permanent error) for a message naming no user.
var ErrMissingUser = errors.New("customer: message names no user")

// Applier applies a message's writes in one transaction with its position;
// *store.Store implements it.
type Applier interface {
	ApplyBatch(ctx context.Context, steps []store.Step) ([]bool, error)
}

// Publisher publishes messages; *bus.Producer implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Handler applies consumed messages to the store.
type Handler struct {
	store    Applier
	log      *slog.Logger
	now      func() time.Time
	onEntry  func()
	receipts Publisher
}

// PublishReceipts sets where the CRM's erasure receipts are published
// (strata.privacy.receipts.v1): after the transaction of an erasure commits, before the
// batch is acknowledged, so a failed publish makes the batch run again (its erasures
// then find their positions applied, and their receipts are published again with no
// items). Without it, receipts are only recorded in the store. Call it before the
// handler is used.
func (h *Handler) PublishReceipts(pub Publisher) { h.receipts = pub }

// OnSegmentEntry sets fn to be called after a segment entry was applied (to wake the
// campaign scheduler, which messages entries for segment-entry campaigns). Call it
// before the handler is used; fn must not block.
func (h *Handler) OnSegmentEntry(fn func()) { h.onEntry = fn }

// Pseudonym returns a fresh random id to replace an erased user's: random, so that
// nothing links it back to the user id.
func Pseudonym() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "erased-" + hex.EncodeToString(b[:])
}

// NewHandler returns a Handler writing to s.
func NewHandler(s Applier, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: s, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Handle applies one message; it is a bus.Handler.
func (h *Handler) Handle(ctx context.Context, msg bus.Message) error {
	return h.HandleBatch(ctx, []bus.Message{msg})
}

// HandleBatch applies msgs in order in one transaction; it is a bus.BatchHandler. A
// message that cannot be decoded fails the whole batch, which the consumer then hands
// over one message at a time, so that only that message is dead-lettered.
func (h *Handler) HandleBatch(ctx context.Context, msgs []bus.Message) error {
	steps := make([]store.Step, len(msgs))
	entered := make([]bool, len(msgs))
	var receipts []*privacyv1.ErasureReceipt
	for i, msg := range msgs {
		fn, enter, err := h.step(ctx, msg)
		if err != nil {
			return err
		}
		if fn.receipt != nil {
			receipts = append(receipts, fn.receipt)
		}
		steps[i] = store.Step{Pos: store.Position{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}, Fn: fn.apply}
		entered[i] = enter
	}
	applied, err := h.store.ApplyBatch(ctx, steps)
	if err != nil {
		if len(msgs) == 1 {
			return fmt.Errorf("customer: apply %s/%d/%d: %w", msgs[0].Topic, msgs[0].Partition, msgs[0].Offset, err)
		}
		return fmt.Errorf("customer: apply a batch of %d messages: %w", len(msgs), err)
	}
	wake := false
	for i, ok := range applied {
		if !ok {
			h.log.DebugContext(ctx, "message applied before, skipped", "topic", msgs[i].Topic, "partition", msgs[i].Partition, "offset", msgs[i].Offset)
		}
		wake = wake || (ok && entered[i])
	}
	if wake && h.onEntry != nil {
		h.onEntry()
	}
	return h.publishReceipts(ctx, receipts)
}

// publishReceipts publishes the receipts of the batch's erasures, committed.
func (h *Handler) publishReceipts(ctx context.Context, receipts []*privacyv1.ErasureReceipt) error {
	if h.receipts == nil || len(receipts) == 0 {
		return nil
	}
	msgs := make([]bus.Message, len(receipts))
	for i, r := range receipts {
		b, err := proto.Marshal(r)
		if err != nil {
			return fmt.Errorf("customer: encode erasure receipt: %w", err)
		}
		msgs[i] = bus.Message{Topic: topics.PrivacyReceipts, Key: privacyv1.ReceiptKey(r.GetRequestId(), ReceiptService), Value: b}
	}
	if err := h.receipts.Publish(ctx, msgs...); err != nil {
		return fmt.Errorf("customer: publish %d erasure receipt(s): %w", len(msgs), err)
	}
	return nil
}

// stepFunc is what applying one message writes; receipt, for an erasure request, is
// the CRM's receipt, its items counted when apply runs.
type stepFunc struct {
	apply   func(context.Context, *store.Tx) error
	receipt *privacyv1.ErasureReceipt
}

// step decodes msg into what applying it writes, and reports whether it is a segment
// entry.
func (h *Handler) step(ctx context.Context, msg bus.Message) (stepFunc, bool, error) {
	var (
		fn      func(context.Context, *store.Tx) error
		receipt *privacyv1.ErasureReceipt
	)
	entered := false
	switch msg.Topic {
	case topics.Events:
		var ev eventv1.Event
		if err := bus.DecodeProto(msg, &ev); err != nil {
			return stepFunc{}, false, err
		}
		if userOf(&ev) == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("event %s: %w", ev.GetEventId(), ErrMissingUser))
		}
		fn = func(ctx context.Context, tx *store.Tx) error { return applyEvent(ctx, tx, &ev) }
	case topics.Profiles:
		if msg.Value == nil {
			// A tombstone erases a profile; the CRM anonymises its rows when the
			// erasure request itself (strata.privacy.v1) arrives.
			fn = func(context.Context, *store.Tx) error { return nil }
			break
		}
		var p profilev1.Profile
		if err := bus.DecodeProto(msg, &p); err != nil {
			return stepFunc{}, false, err
		}
		if p.GetUserId() == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("profile at %s/%d/%d: %w", msg.Topic, msg.Partition, msg.Offset, ErrMissingUser))
		}
		fn = func(ctx context.Context, tx *store.Tx) error { return applyProfile(ctx, tx, &p) }
	case topics.Predictions:
		if msg.Value == nil {
			fn = func(context.Context, *store.Tx) error { return nil }
			break
		}
		var p predictionv1.Prediction
		if err := bus.DecodeProto(msg, &p); err != nil {
			return stepFunc{}, false, err
		}
		if p.GetUserId() == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("prediction at %s/%d/%d: %w", msg.Topic, msg.Partition, msg.Offset, ErrMissingUser))
		}
		fn = func(ctx context.Context, tx *store.Tx) error { return applyPrediction(ctx, tx, &p) }
	case topics.Segments:
		var e profilev1.SegmentEvent
		if err := bus.DecodeProto(msg, &e); err != nil {
			return stepFunc{}, false, err
		}
		if e.GetUserId() == "" || e.GetSegmentId() == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("segment event at %s/%d/%d: user or segment missing: %w", msg.Topic, msg.Partition, msg.Offset, ErrMissingUser))
		}
		var enter bool
		switch e.GetType() {
		case profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER:
			enter = true
		case profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT:
		default:
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("segment event at %s/%d/%d: unknown type %v", msg.Topic, msg.Partition, msg.Offset, e.GetType()))
		}
		entered = enter
		change := store.SegmentChange{UserID: e.GetUserId(), SegmentID: e.GetSegmentId(), Enter: enter,
			ProfileVersion: e.GetProfileVersion(), At: e.GetOccurredAt().AsTime()}
		fn = func(ctx context.Context, tx *store.Tx) error { return tx.ApplySegmentChange(ctx, change) }
	case topics.Catalog:
		it := store.CatalogItem{ItemID: string(msg.Key), Deleted: msg.Value == nil}
		if !it.Deleted {
			var c eventv1.CatalogItem
			if err := bus.DecodeProto(msg, &c); err != nil {
				return stepFunc{}, false, err
			}
			it = store.CatalogItem{ItemID: c.GetItemId(), CreatorID: c.GetCreatorId(), Category: c.GetCategory(),
				PriceMinor: c.GetPriceMinor(), Currency: c.GetCurrency()}
		}
		if it.ItemID == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("catalog item at %s/%d/%d has no id", msg.Topic, msg.Partition, msg.Offset))
		}
		fn = func(ctx context.Context, tx *store.Tx) error { return tx.PutCatalogItem(ctx, it) }
	case topics.Privacy:
		var r privacyv1.PrivacyRequest
		if err := bus.DecodeProto(msg, &r); err != nil {
			return stepFunc{}, false, err
		}
		user := r.GetUserId()
		if user == "" {
			user = string(msg.Key)
		}
		if user == "" || r.GetRequestId() == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("privacy request at %s/%d/%d: user or request id missing: %w", msg.Topic, msg.Partition, msg.Offset, ErrMissingUser))
		}
		if r.GetAction() != privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE {
			h.log.DebugContext(ctx, "privacy request without an action for the CRM, skipped", "request_id", r.GetRequestId())
			fn = func(context.Context, *store.Tx) error { return nil }
			break
		}
		at := h.now()
		receipt = &privacyv1.ErasureReceipt{RequestId: r.GetRequestId(), UserId: user, Service: ReceiptService, CompletedAt: timestamppb.New(at)}
		fn = func(ctx context.Context, tx *store.Tx) error {
			e, err := tx.EraseUser(ctx, r.GetRequestId(), user, Pseudonym(), at)
			if err != nil {
				return err
			}
			receipt.Items = e.Rows
			// The log names the request, never the user.
			h.log.InfoContext(ctx, "customer erased", "request_id", r.GetRequestId(), "rows", e.Rows)
			return tx.PutErasureReceipt(ctx, store.ErasureReceipt{RequestID: r.GetRequestId(), UserID: user, Service: ReceiptService,
				CompletedAt: at, Items: e.Rows})
		}
	case topics.PrivacyReceipts:
		var r privacyv1.ErasureReceipt
		if err := bus.DecodeProto(msg, &r); err != nil {
			return stepFunc{}, false, err
		}
		if r.GetRequestId() == "" || r.GetService() == "" || r.GetUserId() == "" {
			return stepFunc{}, false, bus.Permanent(fmt.Errorf("erasure receipt at %s/%d/%d: request, service or user missing: %w", msg.Topic, msg.Partition, msg.Offset, ErrMissingUser))
		}
		rc := store.ErasureReceipt{RequestID: r.GetRequestId(), UserID: r.GetUserId(), Service: r.GetService(),
			CompletedAt: r.GetCompletedAt().AsTime(), Items: r.GetItems()}
		fn = func(ctx context.Context, tx *store.Tx) error { return tx.PutErasureReceipt(ctx, rc) }
	default:
		return stepFunc{}, false, bus.Permanent(fmt.Errorf("customer: unexpected topic %q", msg.Topic))
	}
	return stepFunc{apply: fn, receipt: receipt}, entered, nil
}

// userOf returns the id the CRM files an event under: the user id, or the anonymous id
// of a visitor who never identified.
func userOf(ev *eventv1.Event) string {
	if ev.GetUserId() != "" {
		return ev.GetUserId()
	}
	return ev.GetAnonymousId()
}

// Kind groups an event name for the timeline.
func Kind(event string) string {
	switch event {
	case "Lesson Started", "Lesson Completed":
		return "learning"
	case OrderCompleted:
		return "purchase"
	case OrderRefunded:
		return "refund"
	case ItemRated:
		return "rating"
	case "Review Submitted":
		return "review"
	case "Support Ticket Opened", "Support Ticket Resolved":
		return "ticket"
	case MessageDelivered, MessageOpened, MessageClicked:
		return "message"
	case SurveyAnswered:
		return "survey"
	case "Subscription Started", SubscriptionRenewed, "Subscription Cancelled":
		return "subscription"
	case "Product Viewed", "Product Added", "Item Favorited", "Recommendation Shown", "Recommendation Clicked":
		return "browse"
	}
	return "other"
}

func applyEvent(ctx context.Context, tx *store.Tx, ev *eventv1.Event) error {
	user := userOf(ev)
	at := ev.GetTimestamp().AsTime()
	if err := tx.TouchCustomer(ctx, user, at); err != nil {
		return err
	}
	if ev.GetType() != eventv1.EventType_EVENT_TYPE_TRACK {
		return nil
	}
	props := ev.GetProperties().GetFields()
	name := ev.GetEvent()
	i := store.Interaction{
		EventID: ev.GetEventId(), UserID: user, At: at, Event: name, Kind: Kind(name),
		ItemID:     firstString(props, "item_id", "product_id", "plan_id"),
		OrderID:    firstString(props, "order_id"),
		CampaignID: firstString(props, "campaign_id"),
		MessageID:  firstString(props, "message_id"),
		TicketID:   firstString(props, "ticket_id"),
		Currency:   firstString(props, "currency"),
		Coupon:     firstString(props, "coupon"),
	}
	if v, ok := firstNumber(props, "rating", "score", "minutes"); ok {
		i.Measure = v
	}
	var order *store.Order
	switch name {
	case OrderCompleted, SubscriptionRenewed:
		// A renewal is a purchase without an Order Completed: it counts as an order of
		// its plan.
		o := orderOf(ev, user, at)
		if o.OrderID == "" || name == SubscriptionRenewed {
			o.OrderID = ev.GetEventId()
		}
		if len(o.Items) == 0 && i.ItemID != "" {
			o.Items = []store.OrderItem{{ItemID: i.ItemID, Quantity: 1, PriceMinor: o.RevenueMinor}}
		}
		o.Referrer = firstString(props, "referrer_creator_id", "referrer")
		order = &o
		i.OrderID, i.AmountMinor, i.DiscountMinor, i.Currency, i.Coupon = o.OrderID, o.RevenueMinor, o.DiscountMinor, o.Currency, o.Coupon
	case OrderRefunded, "Subscription Started":
		o := orderOf(ev, user, at)
		if o.RevenueMinor == 0 {
			o.RevenueMinor = minorOf(props, "price")
		}
		i.AmountMinor, i.Currency = o.RevenueMinor, o.Currency
		if i.OrderID == "" {
			i.OrderID = o.OrderID
		}
	}
	isNew, err := tx.AddInteraction(ctx, i)
	if err != nil || !isNew {
		return err // a duplicate event (same id at another offset) changes nothing more
	}
	switch name {
	case OrderCompleted, SubscriptionRenewed:
		_, err = tx.AddOrder(ctx, *order)
		return err
	case OrderRefunded:
		return tx.AddRefund(ctx, store.Refund{EventID: i.EventID, OrderID: i.OrderID, UserID: user, At: at, AmountMinor: i.AmountMinor, Currency: i.Currency})
	case ItemRated:
		score, ok := intIn(props, "rating", 1, 5)
		if !ok {
			return nil
		}
		_, err = tx.AddFeedback(ctx, store.Feedback{EventID: i.EventID, UserID: user, At: at, Metric: MetricRating, Score: score,
			ItemID: i.ItemID, CreatorID: firstString(props, "creator_id")})
		return err
	case SurveyAnswered:
		return applySurvey(ctx, tx, i, props)
	}
	return nil
}

// surveyScales are the score ranges of the surveys.
var surveyScales = map[string][2]int{MetricNPS: {0, 10}, MetricCSAT: {1, 5}, MetricCES: {1, 7}}

func applySurvey(ctx context.Context, tx *store.Tx, i store.Interaction, props map[string]*structpb.Value) error {
	metric := strings.ToLower(firstString(props, "survey", "metric", "survey_type"))
	scale, ok := surveyScales[metric]
	if !ok {
		return nil
	}
	score, ok := intIn(props, "score", scale[0], scale[1])
	if !ok {
		return nil
	}
	isNew, err := tx.AddFeedback(ctx, store.Feedback{EventID: i.EventID, UserID: i.UserID, At: i.At, Metric: metric, Score: score,
		ItemID: i.ItemID, CreatorID: firstString(props, "creator_id")})
	if err != nil || !isNew {
		return err
	}
	if metric == MetricNPS && score <= 6 {
		return tx.OpenTask(ctx, store.Task{TaskID: "nps-" + i.EventID, UserID: i.UserID, Reason: ReasonNPSDetractor, Score: score,
			SourceEventID: i.EventID, CreatedAt: i.At})
	}
	return nil
}

// orderOf reads an order from the typed payload ingest fills, or from the Segment
// properties when it is absent.
func orderOf(ev *eventv1.Event, user string, at time.Time) store.Order {
	o := store.Order{UserID: user, EventID: ev.GetEventId(), At: at}
	if typed := ev.GetOrder(); typed != nil {
		o.OrderID, o.RevenueMinor, o.DiscountMinor = typed.GetOrderId(), typed.GetRevenueMinor(), typed.GetDiscountMinor()
		o.Currency, o.Coupon = typed.GetCurrency(), typed.GetCoupon()
		for _, it := range typed.GetItems() {
			o.Items = append(o.Items, store.OrderItem{ItemID: it.GetItemId(), Quantity: int(it.GetQuantity()), PriceMinor: it.GetPriceMinor(), Category: it.GetCategory()})
		}
		return o
	}
	props := ev.GetProperties().GetFields()
	o.OrderID = firstString(props, "order_id")
	o.RevenueMinor = minorOf(props, "revenue")
	if o.RevenueMinor == 0 {
		o.RevenueMinor = minorOf(props, "total")
	}
	o.DiscountMinor = minorOf(props, "discount")
	o.Currency, o.Coupon = firstString(props, "currency"), firstString(props, "coupon")
	for _, p := range props["products"].GetListValue().GetValues() {
		f := p.GetStructValue().GetFields()
		id := firstString(f, "product_id", "item_id", "sku")
		if id == "" {
			continue
		}
		q := 1
		if v, ok := firstNumber(f, "quantity"); ok && v >= 0 {
			q = int(v)
		}
		o.Items = append(o.Items, store.OrderItem{ItemID: id, Quantity: q, PriceMinor: minorOf(f, "price"), Category: firstString(f, "category")})
	}
	return o
}

// minorOf reads an amount: the property name+"_minor" in minor units, or name in major
// units (converted with two decimals).
func minorOf(props map[string]*structpb.Value, name string) int64 {
	if v, ok := firstNumber(props, name+"_minor"); ok {
		return int64(math.Round(v))
	}
	if v, ok := firstNumber(props, name); ok {
		return int64(math.Round(v * 100))
	}
	return 0
}

func firstString(props map[string]*structpb.Value, names ...string) string {
	for _, n := range names {
		switch v := props[n].GetKind().(type) {
		case *structpb.Value_StringValue:
			if v.StringValue != "" {
				return v.StringValue
			}
		case *structpb.Value_NumberValue:
			return fmt.Sprint(v.NumberValue)
		}
	}
	return ""
}

func firstNumber(props map[string]*structpb.Value, names ...string) (float64, bool) {
	for _, n := range names {
		if v, ok := props[n].GetKind().(*structpb.Value_NumberValue); ok && !math.IsNaN(v.NumberValue) && !math.IsInf(v.NumberValue, 0) {
			return v.NumberValue, true
		}
	}
	return 0, false
}

// intIn reads an integer property within [lo, hi].
func intIn(props map[string]*structpb.Value, name string, lo, hi int) (int, bool) {
	v, ok := firstNumber(props, name)
	if !ok || v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
		return 0, false
	}
	return int(v), true
}

func applyProfile(ctx context.Context, tx *store.Tx, p *profilev1.Profile) error {
	// The folded activity buckets are the profile service's working state, large and of
	// no use to the 360 view.
	slim := proto.CloneOf(p)
	slim.Activity = nil
	b, err := proto.Marshal(slim)
	if err != nil {
		return bus.Permanent(fmt.Errorf("customer: encode profile: %w", err))
	}
	return tx.PutProfile(ctx, store.ProfileSnapshot{
		UserID: p.GetUserId(), Version: p.GetVersion(),
		RFMTier: p.GetRfm().GetTier(), Lifecycle: p.GetLifecycle().GetStage(), ValueTier: p.GetValueTier(),
		Consent: p.GetConsent(), Timezone: firstString(p.GetTraits().GetFields(), "timezone", "time_zone"), FirstSeen: timeOf(p.GetFirstSeen().AsTime(), p.GetFirstSeen() != nil),
		LastSeen: timeOf(p.GetLastSeen().AsTime(), p.GetLastSeen() != nil), Snapshot: b,
		UpdatedAt: timeOf(p.GetUpdatedAt().AsTime(), p.GetUpdatedAt() != nil),
	})
}

func applyPrediction(ctx context.Context, tx *store.Tx, p *predictionv1.Prediction) error {
	b, err := proto.Marshal(p)
	if err != nil {
		return bus.Permanent(fmt.Errorf("customer: encode prediction: %w", err))
	}
	return tx.PutPrediction(ctx, store.Prediction{
		UserID: p.GetUserId(), PurchasePropensity: p.GetPurchasePropensity(), ChurnRisk: p.GetChurnRisk(),
		CLVMinor: p.GetClvMinor(), Currency: p.GetCurrency(), PAlive: p.GetPAlive(),
		ScoredAt: timeOf(p.GetScoredAt().AsTime(), p.GetScoredAt() != nil), Snapshot: b,
	})
}

func timeOf(t time.Time, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	return t
}
