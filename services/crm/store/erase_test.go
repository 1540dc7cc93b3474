package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/services/crm/store"
)

// textColumns are the columns that could hold a user id or an id derived from one.
var textColumns = map[string][]string{
	"customers":         {"user_id", "do_not_contact_reason"},
	"consents":          {"user_id"},
	"predictions":       {"user_id"},
	"segment_members":   {"user_id"},
	"interactions":      {"event_id", "user_id", "order_id", "message_id", "ticket_id"},
	"orders":            {"order_id", "user_id", "event_id"},
	"order_items":       {"order_id"},
	"refunds":           {"event_id", "order_id", "user_id"},
	"feedback":          {"event_id", "user_id"},
	"follow_up_tasks":   {"task_id", "user_id", "source_event_id"},
	"campaign_audience": {"user_id", "message_id"},
	"outbox":            {"message_id", "user_id"},
	"activity_months":   {"user_id"},
	"message_events":    {"message_id"},
	"segment_entries":   {"user_id"},
}

func testErasure(ctx context.Context, t *testing.T, s *store.Store) {
	const user, other = "gdpr-u1", "gdpr-u2"
	at := time.Date(2032, 7, 5, 10, 0, 0, 0, time.UTC)
	month := store.Month(at)
	// An active segment-entry campaign on gdpr-seg: the users' entries are queued.
	if err := s.CreateCampaign(ctx, store.Campaign{ID: "gdpr-trigger", Name: "g", State: store.StateActive, Channel: "email", Definition: []byte{1},
		CreatedAt: at, UpdatedAt: at, TriggerSegment: "gdpr-seg"}); err != nil {
		t.Fatal(err)
	}
	apply(ctx, t, s, store.Position{Topic: "t.gdpr"}, func(ctx context.Context, tx *store.Tx) error {
		for _, u := range []string{user, other} {
			if err := tx.PutProfile(ctx, store.ProfileSnapshot{UserID: u, Version: 1, RFMTier: "Loyal", Consent: map[string]bool{"email": true},
				Snapshot: []byte("profile of " + u), Timezone: "Europe/Paris"}); err != nil {
				return err
			}
			if err := tx.PutPrediction(ctx, store.Prediction{UserID: u, CLVMinor: 5000, Currency: "CNY", ScoredAt: at, Snapshot: []byte(u)}); err != nil {
				return err
			}
			if err := tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: u, SegmentID: "gdpr-seg", Enter: true, ProfileVersion: 1, At: at}); err != nil {
				return err
			}
			if err := tx.TouchCustomer(ctx, u, at); err != nil {
				return err
			}
			for k, ev := range []string{"Order Completed", "Lesson Completed", "Message Opened"} {
				i := store.Interaction{EventID: fmt.Sprintf("%s-ev%d", u, k), UserID: u, At: at.Add(time.Duration(k+1) * time.Hour), Event: ev,
					Kind: "other", OrderID: u + "-order", AmountMinor: 1990, Currency: "CNY", TicketID: u + "-ticket"}
				if ev == "Message Opened" {
					i.MessageID, i.OrderID, i.AmountMinor = "gdpr-msg-"+u, "", 0
				}
				if _, err := tx.AddInteraction(ctx, i); err != nil {
					return err
				}
			}
			if _, err := tx.AddOrder(ctx, store.Order{OrderID: u + "-order", UserID: u, EventID: u + "-ev0", At: at.Add(time.Hour), RevenueMinor: 1990,
				Currency: "CNY", Items: []store.OrderItem{{ItemID: "gdpr-item", Quantity: 1, PriceMinor: 1990}}}); err != nil {
				return err
			}
			if err := tx.AddRefund(ctx, store.Refund{EventID: u + "-refund", OrderID: u + "-order", UserID: u, At: at.Add(2 * time.Hour), AmountMinor: 500, Currency: "CNY"}); err != nil {
				return err
			}
			if _, err := tx.AddFeedback(ctx, store.Feedback{EventID: u + "-nps", UserID: u, At: at, Metric: "nps", Score: 3}); err != nil {
				return err
			}
			if err := tx.OpenTask(ctx, store.Task{TaskID: "nps-" + u + "-nps", UserID: u, Reason: "nps_detractor", Score: 3, SourceEventID: u + "-nps", CreatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.CreateCampaign(ctx, store.Campaign{ID: "gdpr-c", Name: "g", State: store.StateDraft, Channel: "email", Definition: []byte{1}, CreatedAt: at, UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Launch(ctx, "gdpr-c", at, func(context.Context, store.Campaign, func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		var p store.LaunchPlan
		for _, u := range []string{user, other} {
			p.Audience = append(p.Audience, store.AudienceMember{UserID: u, Arm: "main", MessageID: "gdpr-msg-" + u})
			p.Messages = append(p.Messages, store.OutboxMessage{MessageID: "gdpr-msg-" + u, UserID: u, Channel: "email", Variant: "main", Payload: []byte("Hi " + u)})
		}
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, []string{"gdpr-msg-" + user}, at); err != nil {
		t.Fatal(err)
	}

	reports := func() []any {
		t.Helper()
		rev, err := s.Revenue(ctx, store.RevenueQuery{From: month, To: month, Currency: "CNY", Dimension: store.RevenueBySegment})
		if err != nil {
			t.Fatal(err)
		}
		var seg []store.RevenueRow
		for _, r := range rev {
			if r.Key == "gdpr-seg" {
				seg = append(seg, r)
			}
		}
		sat, err := s.Satisfaction(ctx, store.SatisfactionQuery{Dimension: store.ByRFMTier, From: at, To: at.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		arms, err := s.ArmStats(ctx, store.ArmQuery{CampaignID: "gdpr-c", Goal: "Order Completed", Window: 72 * time.Hour, Currency: "CNY"})
		if err != nil {
			t.Fatal(err)
		}
		return []any{seg, sat, arms}
	}
	before := reports()
	if len(before[0].([]store.RevenueRow)) == 0 || len(before[2].([]store.ArmStats)) == 0 {
		t.Fatalf("reports before erasure are empty: the comparison would check nothing: %+v", before)
	}

	var erased store.Erasure
	apply(ctx, t, s, store.Position{Topic: "t.gdpr", Offset: 1}, func(ctx context.Context, tx *store.Tx) error {
		var err error
		erased, err = tx.EraseUser(ctx, "req-1", user, "erased-abc", at.Add(24*time.Hour))
		return err
	})
	if erased.Rows < 20 {
		t.Errorf("rows changed by the erasure: got %d, want every row of the user", erased.Rows)
	}
	if after := reports(); !reflect.DeepEqual(after, before) {
		t.Errorf("reports changed by the erasure:\n got %+v\nwant %+v", after, before)
	}
	// No column anywhere still holds the user id, or an id made from it; the other user
	// is untouched.
	for table, cols := range textColumns {
		for _, col := range cols {
			for _, u := range []string{user, other} {
				n := countLike(ctx, t, s, table, col, u)
				if u == user && n != 0 {
					t.Errorf("%s.%s: %d rows still hold %q", table, col, n, u)
				}
				if u == other && n == 0 && col == "user_id" {
					t.Errorf("%s.%s: the other user's rows are gone", table, col)
				}
			}
		}
	}
	if _, err := s.Customer(ctx, user, 50); err == nil {
		t.Errorf("Customer(%s) after erasure: got a customer, want ErrNotFound", user)
	}
	c, err := s.Customer(ctx, "erased-abc", 50)
	if err != nil {
		t.Fatal(err)
	}
	if c.Profile != nil || len(c.Prediction) != 0 || len(c.Consent) != 0 || !c.DoNotContact || len(c.OpenTasks) != 0 || c.RevenueMinor != 1990 || c.RefundedMinor != 500 {
		t.Errorf("pseudonymous customer: got %+v", c)
	}
	for _, i := range c.Interactions {
		if i.TicketID != "" || !strings.HasPrefix(i.EventID, "erased-abc:") {
			t.Errorf("interaction after erasure: got %+v", i)
		}
	}
	msgs, _ := s.Messages(ctx, "gdpr-c")
	if len(msgs) != 2 {
		t.Fatalf("messages after erasure: got %d, want the other user's and the erased user's sent one", len(msgs))
	}
	for _, m := range msgs {
		if m.UserID == "erased-abc" && (len(m.Payload) != 0 || m.PublishedAt.IsZero()) {
			t.Errorf("erased user's message: got payload %q, published %v", m.Payload, m.PublishedAt)
		}
	}
	got, err := s.Erasure(ctx, "req-1")
	if err != nil || got.Rows != erased.Rows || !got.ErasedAt.Equal(at.Add(24*time.Hour)) {
		t.Errorf("erasure record: got %+v %v", got, err)
	}
	// Replaying the request changes nothing more.
	apply(ctx, t, s, store.Position{Topic: "t.gdpr", Offset: 2}, func(ctx context.Context, tx *store.Tx) error {
		again, err := tx.EraseUser(ctx, "req-1", user, "erased-def", at.Add(48*time.Hour))
		if err == nil && again.Rows != 0 {
			t.Errorf("second erasure: changed %d rows, want 0", again.Rows)
		}
		return err
	})
}

func countLike(ctx context.Context, t *testing.T, s *store.Store, table, col, needle string) int64 {
	t.Helper()
	n, err := s.CountContaining(ctx, table, col, needle)
	if err != nil {
		t.Fatalf("count %s.%s: %v", table, col, err)
	}
	return n
}

func testErasureReceipts(ctx context.Context, t *testing.T, s *store.Store) {
	at := time.Date(2032, 8, 1, 9, 0, 0, 0, time.UTC)
	if got, err := s.ErasureReceipts(ctx, "receipts-none"); err != nil || len(got) != 0 {
		t.Fatalf("ErasureReceipts of an unknown request: got %v, %v; want none", got, err)
	}
	first := []store.ErasureReceipt{
		{RequestID: "receipts-r1", UserID: "receipts-u1", Service: "profile", CompletedAt: at, Items: 3},
		{RequestID: "receipts-r1", UserID: "receipts-u1", Service: "crm", CompletedAt: at.Add(time.Second), Items: 12},
		{RequestID: "receipts-r2", UserID: "receipts-u2", Service: "crm", CompletedAt: at, Items: 1},
	}
	// A redelivered request's receipt comes later and finds nothing left: the first stays.
	again := store.ErasureReceipt{RequestID: "receipts-r1", UserID: "receipts-u1", Service: "profile", CompletedAt: at.Add(time.Hour)}
	for i, r := range append(first, again) {
		apply(ctx, t, s, store.Position{Topic: "t.receipts", Offset: int64(i)}, func(ctx context.Context, tx *store.Tx) error {
			return tx.PutErasureReceipt(ctx, r)
		})
	}
	got, err := s.ErasureReceipts(ctx, "receipts-r1")
	if err != nil {
		t.Fatalf("ErasureReceipts: %v", err)
	}
	want := []store.ErasureReceipt{first[1], first[0]} // in service order
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ErasureReceipts(receipts-r1): got %+v, want %+v", got, want)
	}
}
