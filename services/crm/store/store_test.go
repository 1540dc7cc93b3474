package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stratahq/strata/services/crm/store"
	"github.com/stratahq/strata/services/crm/store/storetest"
)

// runContract checks what every database behind the CRM must do. Each adapter test
// passes a store.Config for an empty database of its own.
func runContract(t *testing.T, cfg store.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	t.Run("migrations", func(t *testing.T) { testMigrations(ctx, t, s, cfg) })
	t.Run("apply is idempotent", func(t *testing.T) { testApplyIdempotent(ctx, t, s) })
	t.Run("apply a batch", func(t *testing.T) { testApplyBatch(ctx, t, s) })
	t.Run("orders refunds and duplicates", func(t *testing.T) { testOrders(ctx, t, s) })
	t.Run("profile prediction segments", func(t *testing.T) { testProfile(ctx, t, s) })
	t.Run("feedback tasks and satisfaction", func(t *testing.T) { testSatisfaction(ctx, t, s) })
	t.Run("campaign lifecycle", func(t *testing.T) { testCampaignLifecycle(ctx, t, s) })
	t.Run("candidates", func(t *testing.T) { testCandidates(ctx, t, s) })
	t.Run("launch and outbox", func(t *testing.T) { testLaunch(ctx, t, s) })
	t.Run("arm stats and last touch", func(t *testing.T) { testArmStats(ctx, t, s) })
	t.Run("bulk import", func(t *testing.T) { testImport(ctx, t, s) })
	t.Run("revenue and settlement", func(t *testing.T) { testRevenue(ctx, t, s) })
	t.Run("right to erasure", func(t *testing.T) { testErasure(ctx, t, s) })
	t.Run("erasure receipts", func(t *testing.T) { testErasureReceipts(ctx, t, s) })
	t.Run("revenue roll-ups equal the report from the rows", func(t *testing.T) { testRevenueRollups(ctx, t, s) })
}

var base = time.Date(2031, 3, 10, 12, 0, 0, 0, time.UTC)

func apply(ctx context.Context, t *testing.T, s *store.Store, pos store.Position, fn func(context.Context, *store.Tx) error) bool {
	t.Helper()
	ok, err := s.Apply(ctx, pos, fn)
	if err != nil {
		t.Fatalf("Apply(%v): %v", pos, err)
	}
	return ok
}

func testMigrations(ctx context.Context, t *testing.T, s *store.Store, cfg store.Config) {
	v, err := s.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v < 2 {
		t.Fatalf("schema version: got %d, want at least 2", v)
	}
	again, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer again.Close()
	if v2, err := again.Version(ctx); err != nil || v2 != v {
		t.Errorf("version after second Open: got %d (%v), want %d", v2, err, v)
	}
}

func testApplyIdempotent(ctx context.Context, t *testing.T, s *store.Store) {
	pos := store.Position{Topic: "t.idem", Partition: 3, Offset: 10}
	order := store.Order{OrderID: "idem-o1", UserID: "idem-u1", EventID: "idem-e1", At: base, RevenueMinor: 1000, Currency: "CNY"}
	add := func(_ context.Context, tx *store.Tx) error {
		_, err := tx.AddOrder(ctx, order)
		return err
	}
	if !apply(ctx, t, s, pos, add) {
		t.Fatalf("first Apply: got not applied, want applied")
	}
	for _, off := range []int64{10, 9, 0} {
		if apply(ctx, t, s, store.Position{Topic: pos.Topic, Partition: pos.Partition, Offset: off}, add) {
			t.Errorf("Apply at offset %d after 10: got applied, want skipped", off)
		}
	}
	// Another partition of the same topic is independent.
	if !apply(ctx, t, s, store.Position{Topic: pos.Topic, Partition: 4, Offset: 0}, func(context.Context, *store.Tx) error { return nil }) {
		t.Errorf("Apply on partition 4: got skipped, want applied")
	}
	if off, ok, err := s.AppliedOffset(ctx, pos.Topic, pos.Partition); err != nil || !ok || off != 10 {
		t.Errorf("AppliedOffset: got %d %v %v, want 10 true nil", off, ok, err)
	}
	// A failing fn leaves neither rows nor position behind.
	boom := errors.New("boom")
	_, err := s.Apply(ctx, store.Position{Topic: pos.Topic, Partition: 3, Offset: 11}, func(ctx context.Context, tx *store.Tx) error {
		if _, err := tx.AddOrder(ctx, store.Order{OrderID: "idem-o2", UserID: "idem-u1", EventID: "idem-e2", At: base, RevenueMinor: 5, Currency: "CNY"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing Apply: got %v, want %v", err, boom)
	}
	if off, _, _ := s.AppliedOffset(ctx, pos.Topic, 3); off != 10 {
		t.Errorf("offset after failed Apply: got %d, want 10", off)
	}
	c, err := s.Customer(ctx, "idem-u1", 10)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	if c.OrderCount != 1 || c.RevenueMinor != 1000 {
		t.Errorf("customer after replays: got %d orders %d revenue, want 1 and 1000", c.OrderCount, c.RevenueMinor)
	}
}

func testApplyBatch(ctx context.Context, t *testing.T, s *store.Store) {
	const topic, user = "t.batch", "batch-u1"
	order := func(n int) func(context.Context, *store.Tx) error {
		return func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.AddOrder(ctx, store.Order{OrderID: fmt.Sprintf("batch-o%d", n), UserID: user,
				EventID: fmt.Sprintf("batch-e%d", n), At: base, RevenueMinor: 100, Currency: "CNY"})
			return err
		}
	}
	at := func(p int, off int64) store.Position { return store.Position{Topic: topic, Partition: p, Offset: off} }
	if !apply(ctx, t, s, at(0, 5), order(1)) {
		t.Fatal("first Apply: got skipped")
	}
	// Offsets 4 and 5 of partition 0 were applied before; 6 and partition 1 were not.
	got, err := s.ApplyBatch(ctx, []store.Step{{Pos: at(0, 4), Fn: order(2)}, {Pos: at(0, 5), Fn: order(3)},
		{Pos: at(0, 6), Fn: order(4)}, {Pos: at(1, 0), Fn: order(5)}})
	if err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
	if want := []bool{false, false, true, true}; !slices.Equal(got, want) {
		t.Errorf("ApplyBatch applied %v, want %v", got, want)
	}
	// A failing step writes nothing of the batch, positions included.
	boom := errors.New("boom")
	got, err = s.ApplyBatch(ctx, []store.Step{{Pos: at(0, 7), Fn: order(6)},
		{Pos: at(1, 1), Fn: func(context.Context, *store.Tx) error { return boom }}})
	if !errors.Is(err, boom) || slices.Contains(got, true) {
		t.Fatalf("failing ApplyBatch: got %v %v, want nothing applied and %v", got, err, boom)
	}
	for p, want := range map[int]int64{0: 6, 1: 0} {
		if off, _, err := s.AppliedOffset(ctx, topic, p); err != nil || off != want {
			t.Errorf("partition %d offset: got %d (%v), want %d", p, off, err, want)
		}
	}
	c, err := s.Customer(ctx, user, 10)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	if c.OrderCount != 3 {
		t.Errorf("orders: got %d, want 3 (orders 1, 4 and 5)", c.OrderCount)
	}
}

func testOrders(ctx context.Context, t *testing.T, s *store.Store) {
	user := "orders-u1"
	off := int64(0)
	next := func() store.Position { off++; return store.Position{Topic: "t.orders", Offset: off} }
	apply(ctx, t, s, next(), func(ctx context.Context, tx *store.Tx) error {
		if err := tx.TouchCustomer(ctx, user, base); err != nil {
			return err
		}
		o := store.Order{OrderID: "orders-o1", UserID: user, EventID: "orders-e1", At: base, RevenueMinor: 19900, DiscountMinor: 100,
			Currency: "CNY", Coupon: "SAVE10", Items: []store.OrderItem{{ItemID: "i1", Quantity: 1, PriceMinor: 10000}, {ItemID: "i2", Quantity: 1, PriceMinor: 10000}}}
		if isNew, err := tx.AddOrder(ctx, o); err != nil || !isNew {
			return fmt.Errorf("AddOrder: %v %v", isNew, err)
		}
		// The same order id again (a retry with a new event id) is not counted twice.
		o.EventID = "orders-e1b"
		if isNew, err := tx.AddOrder(ctx, o); err != nil || isNew {
			return fmt.Errorf("AddOrder duplicate: got new=%v %v, want false", isNew, err)
		}
		// Revenue in another currency is not added to the customer's total.
		if _, err := tx.AddOrder(ctx, store.Order{OrderID: "orders-o2", UserID: user, EventID: "orders-e2", At: base.Add(time.Hour), RevenueMinor: 500, Currency: "USD"}); err != nil {
			return err
		}
		r := store.Refund{EventID: "orders-r1", OrderID: "orders-o1", UserID: user, AmountMinor: 9900, Currency: "CNY", At: base.Add(2 * time.Hour)}
		if err := tx.AddRefund(ctx, r); err != nil {
			return err
		}
		return tx.AddRefund(ctx, r) // the same refund again counts once
	})
	apply(ctx, t, s, next(), func(ctx context.Context, tx *store.Tx) error {
		for k, e := range []string{"Lesson Started", "Order Completed", "Message Opened"} {
			i := store.Interaction{EventID: fmt.Sprintf("orders-i%d", k), UserID: user, At: base.Add(time.Duration(k) * time.Minute), Event: e, Kind: "x"}
			if isNew, err := tx.AddInteraction(ctx, i); err != nil || !isNew {
				return fmt.Errorf("AddInteraction: %v %v", isNew, err)
			}
			if isNew, err := tx.AddInteraction(ctx, i); err != nil || isNew {
				return fmt.Errorf("AddInteraction duplicate: got new=%v %v, want false", isNew, err)
			}
		}
		return tx.TouchCustomer(ctx, user, base.Add(-time.Hour))
	})
	c, err := s.Customer(ctx, user, 2)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	if c.OrderCount != 2 || c.RevenueMinor != 19900 || c.Currency != "CNY" || c.Refunds != 1 || c.RefundedMinor != 9900 {
		t.Errorf("counters: got orders %d revenue %d %s refunds %d/%d, want 2 19900 CNY 1/9900",
			c.OrderCount, c.RevenueMinor, c.Currency, c.Refunds, c.RefundedMinor)
	}
	if !c.FirstSeen.Equal(base.Add(-time.Hour)) || !c.LastInteraction.Equal(base) {
		t.Errorf("times: got first %v last %v, want %v and %v", c.FirstSeen, c.LastInteraction, base.Add(-time.Hour), base)
	}
	if got := len(c.Interactions); got != 2 {
		t.Fatalf("interactions with limit 2: got %d", got)
	}
	if got, want := c.Interactions[0].Event, "Message Opened"; got != want {
		t.Errorf("newest interaction: got %q, want %q", got, want)
	}
	if len(c.Orders) != 2 || c.Orders[1].OrderID != "orders-o1" || c.Orders[1].RefundedMinor != 9900 || len(c.Orders[1].Items) != 2 {
		t.Errorf("orders: got %+v, want o2 then o1 refunded 9900 with 2 items", c.Orders)
	}
	if _, err := s.Customer(ctx, "orders-nobody", 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown customer: got %v, want ErrNotFound", err)
	}
}

func testProfile(ctx context.Context, t *testing.T, s *store.Store) {
	user := "profile-u1"
	off := int64(0)
	next := func() store.Position { off++; return store.Position{Topic: "t.profile", Offset: off} }
	put := func(v int64, tier string, consent map[string]bool) {
		apply(ctx, t, s, next(), func(ctx context.Context, tx *store.Tx) error {
			return tx.PutProfile(ctx, store.ProfileSnapshot{UserID: user, Version: v, RFMTier: tier, Consent: consent, Snapshot: []byte{byte(v)},
				FirstSeen: base, LastSeen: base.Add(time.Duration(v) * time.Minute), UpdatedAt: base})
		})
	}
	put(5, "Champions", map[string]bool{"email": true, "sms": false})
	put(3, "Hibernating", map[string]bool{"email": false}) // stale: ignored
	c, err := s.Customer(ctx, user, 10)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	if c.RFMTier != "Champions" || !slices.Equal(c.Profile, []byte{5}) {
		t.Errorf("profile: got tier %q snapshot %v, want Champions [5]", c.RFMTier, c.Profile)
	}
	if !c.Consent["email"] || c.Consent["sms"] || len(c.Consent) != 2 {
		t.Errorf("consent: got %v, want email true, sms false", c.Consent)
	}
	put(6, "Loyal", map[string]bool{"push": true})
	c, _ = s.Customer(ctx, user, 10)
	if c.RFMTier != "Loyal" || len(c.Consent) != 1 || !c.Consent["push"] {
		t.Errorf("after v6: got tier %q consent %v, want Loyal {push:true}", c.RFMTier, c.Consent)
	}

	pred := func(at time.Time, p float64) {
		apply(ctx, t, s, next(), func(ctx context.Context, tx *store.Tx) error {
			return tx.PutPrediction(ctx, store.Prediction{UserID: user, PurchasePropensity: p, ChurnRisk: 0.1, CLVMinor: 100, Currency: "CNY", ScoredAt: at, Snapshot: []byte(fmt.Sprint(p))})
		})
	}
	pred(base.Add(time.Hour), 0.7)
	pred(base, 0.2) // older score: ignored
	c, _ = s.Customer(ctx, user, 10)
	if string(c.Prediction) != "0.7" {
		t.Errorf("prediction: got %q, want 0.7", c.Prediction)
	}

	seg := func(id string, enter bool, v int64) {
		apply(ctx, t, s, next(), func(ctx context.Context, tx *store.Tx) error {
			return tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: user, SegmentID: id, Enter: enter, ProfileVersion: v, At: base})
		})
	}
	seg("profile-b", true, 4)
	seg("profile-a", true, 4)
	seg("profile-b", false, 6)
	seg("profile-b", true, 5) // stale enter: ignored
	c, _ = s.Customer(ctx, user, 10)
	if !slices.Equal(c.Segments, []string{"profile-a"}) {
		t.Errorf("segments: got %v, want [profile-a]", c.Segments)
	}

	if err := s.SetDoNotContact(ctx, user, true, "asked", base); err != nil {
		t.Fatalf("SetDoNotContact: %v", err)
	}
	c, _ = s.Customer(ctx, user, 10)
	if !c.DoNotContact {
		t.Errorf("do not contact: got false, want true")
	}
}

func testSatisfaction(ctx context.Context, t *testing.T, s *store.Store) {
	day0 := base.AddDate(0, 1, 0) // a month no other subtest writes feedback in
	off := int64(0)
	apply(ctx, t, s, store.Position{Topic: "t.sat", Offset: off}, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.PutCatalogItem(ctx, store.CatalogItem{ItemID: "sat-i1", CreatorID: "sat-c1", Category: "go", PriceMinor: 100, Currency: "CNY"}); err != nil {
			return err
		}
		// A deletion keeps the creator, for reports on past answers.
		if err := tx.PutCatalogItem(ctx, store.CatalogItem{ItemID: "sat-i1", Deleted: true}); err != nil {
			return err
		}
		if c, err := tx.CreatorOf(ctx, "sat-i1"); err != nil || c != "sat-c1" {
			return fmt.Errorf("CreatorOf: got %q %v, want sat-c1", c, err)
		}
		if err := tx.PutProfile(ctx, store.ProfileSnapshot{UserID: "sat-u1", Version: 1, RFMTier: "Champions"}); err != nil {
			return err
		}
		if err := tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: "sat-u1", SegmentID: "sat-seg", Enter: true, ProfileVersion: 1, At: day0}); err != nil {
			return err
		}
		answers := []store.Feedback{
			{EventID: "sat-1", UserID: "sat-u1", At: day0, Metric: "nps", Score: 10},
			{EventID: "sat-2", UserID: "sat-u2", At: day0, Metric: "nps", Score: 8},
			{EventID: "sat-3", UserID: "sat-u2", At: day0.Add(24 * time.Hour), Metric: "nps", Score: 3},
			{EventID: "sat-4", UserID: "sat-u1", At: day0, Metric: "csat", Score: 5},
			{EventID: "sat-5", UserID: "sat-u2", At: day0, Metric: "csat", Score: 2},
			{EventID: "sat-6", UserID: "sat-u1", At: day0, Metric: "ces", Score: 6},
			{EventID: "sat-7", UserID: "sat-u1", At: day0, Metric: "rating", Score: 4, ItemID: "sat-i1"},
			{EventID: "sat-8", UserID: "sat-u2", At: day0, Metric: "rating", Score: 1, ItemID: "sat-i2", CreatorID: "sat-c2"},
		}
		for _, f := range answers {
			if isNew, err := tx.AddFeedback(ctx, f); err != nil || !isNew {
				return fmt.Errorf("AddFeedback %s: %v %v", f.EventID, isNew, err)
			}
		}
		if isNew, err := tx.AddFeedback(ctx, answers[0]); err != nil || isNew {
			return fmt.Errorf("AddFeedback duplicate: got new=%v %v", isNew, err)
		}
		for range 2 {
			if err := tx.OpenTask(ctx, store.Task{TaskID: "sat-task-3", UserID: "sat-u2", Reason: "nps_detractor", Score: 3, SourceEventID: "sat-3", CreatedAt: day0}); err != nil {
				return err
			}
		}
		return nil
	})
	window := store.SatisfactionQuery{From: day0, To: day0.AddDate(0, 0, 7)}
	get := func(dim string) map[string]store.SatisfactionRow {
		t.Helper()
		q := window
		q.Dimension = dim
		rows, err := s.Satisfaction(ctx, q)
		if err != nil {
			t.Fatalf("Satisfaction(%s): %v", dim, err)
		}
		m := map[string]store.SatisfactionRow{}
		for _, r := range rows {
			m[r.Key+"/"+r.Metric] = r
		}
		return m
	}
	all := get(store.ByOverall)
	if r := all["/nps"]; r.Responses != 3 || r.Promoters != 1 || r.Detractors != 1 {
		t.Errorf("overall nps: got %+v, want 3 responses, 1 promoter, 1 detractor", r)
	}
	if r := all["/csat"]; r.Responses != 2 || r.Satisfied != 1 {
		t.Errorf("overall csat: got %+v, want 2 responses, 1 satisfied", r)
	}
	if r := all["/ces"]; r.Responses != 1 || r.ScoreSum != 6 {
		t.Errorf("overall ces: got %+v, want 1 response, sum 6", r)
	}
	if r := get(store.BySegment)["sat-seg/nps"]; r.Responses != 1 || r.Promoters != 1 {
		t.Errorf("segment nps: got %+v, want 1 promoter", r)
	}
	tiers := get(store.ByRFMTier)
	if r := tiers["Champions/nps"]; r.Responses != 1 {
		t.Errorf("Champions nps: got %+v, want 1 response", r)
	}
	if r := tiers["/nps"]; r.Responses != 2 {
		t.Errorf("no-tier nps: got %+v, want 2 responses", r)
	}
	if r := get(store.ByItem)["sat-i1/rating"]; r.Responses != 1 || r.ScoreSum != 4 {
		t.Errorf("item rating: got %+v, want 1 rating of 4", r)
	}
	creators := get(store.ByCreator)
	if creators["sat-c1/rating"].ScoreSum != 4 || creators["sat-c2/rating"].ScoreSum != 1 {
		t.Errorf("creator ratings: got %+v, want sat-c1 4 and sat-c2 1", creators)
	}
	days := get(store.ByDay)
	d0 := fmt.Sprint(store.Day(day0))
	if r := days[d0+"/nps"]; r.Responses != 2 {
		t.Errorf("day %s nps: got %+v, want 2", d0, r)
	}
	// 2031-04-10 is a Thursday; its week starts on Monday 2031-04-07.
	monday := fmt.Sprint(store.Day(time.Date(2031, 4, 7, 0, 0, 0, 0, time.UTC)))
	if r := get(store.ByWeek)[monday+"/nps"]; r.Responses != 3 {
		t.Errorf("week %s nps: got %+v (all %v), want 3", monday, r, get(store.ByWeek))
	}
	if r := get(store.ByMonth)["203104/nps"]; r.Responses != 3 {
		t.Errorf("month nps: got %+v, want 3", r)
	}
	if _, err := s.Satisfaction(ctx, store.SatisfactionQuery{Dimension: "planet"}); err == nil {
		t.Errorf("unknown dimension: got nil error")
	}
	tasks, err := s.Tasks(ctx, true, 1000)
	if err != nil {
		t.Fatalf("Tasks: %v", err)
	}
	n := 0
	for _, task := range tasks {
		if task.TaskID == "sat-task-3" {
			n++
			if task.Status != store.TaskOpen || task.Score != 3 || task.UserID != "sat-u2" {
				t.Errorf("task: got %+v", task)
			}
		}
	}
	if n != 1 {
		t.Errorf("task sat-task-3: listed %d times, want 1", n)
	}
	c, err := s.Customer(ctx, "sat-u1", 10)
	if err != nil {
		t.Fatalf("Customer: %v", err)
	}
	if len(c.Feedback) != 4 {
		t.Errorf("customer feedback: got %d answers, want 4", len(c.Feedback))
	}
}

func testCampaignLifecycle(ctx context.Context, t *testing.T, s *store.Store) {
	for k := range 3 {
		c := store.Campaign{ID: fmt.Sprintf("life-%d", k), Name: "n", Channel: "email", Definition: []byte{1, 2, byte(k)},
			CreatedAt: base.Add(time.Duration(k) * time.Second), UpdatedAt: base}
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatalf("CreateCampaign: %v", err)
		}
	}
	if err := s.CreateCampaign(ctx, store.Campaign{ID: "life-0", Name: "again", Channel: "sms", Definition: []byte{}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate CreateCampaign: got %v, want ErrExists", err)
	}
	c, err := s.Campaign(ctx, "life-2")
	if err != nil || c.State != store.StateDraft || !slices.Equal(c.Definition, []byte{1, 2, 2}) || !c.CreatedAt.Equal(base.Add(2*time.Second)) {
		t.Errorf("Campaign: got %+v %v", c, err)
	}
	if _, err := s.Campaign(ctx, "life-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing campaign: got %v, want ErrNotFound", err)
	}
	c, err = s.SetCampaignState(ctx, "life-1", []string{store.StateDraft}, store.StateScheduled, base.Add(time.Hour), base)
	if err != nil || c.State != store.StateScheduled || !c.ScheduledAt.Equal(base.Add(time.Hour)) {
		t.Errorf("schedule: got %+v %v", c, err)
	}
	if _, err := s.SetCampaignState(ctx, "life-1", []string{store.StateDraft}, store.StateScheduled, base, base); !errors.Is(err, store.ErrState) {
		t.Errorf("schedule twice: got %v, want ErrState", err)
	}
	due, err := s.DueCampaigns(ctx, base.Add(2*time.Hour))
	if err != nil || !slices.Contains(due, "life-1") || slices.Contains(due, "life-0") {
		t.Errorf("DueCampaigns: got %v %v, want life-1 only of ours", due, err)
	}
	if due, _ := s.DueCampaigns(ctx, base.Add(time.Minute)); slices.Contains(due, "life-1") {
		t.Errorf("DueCampaigns before time: got %v", due)
	}
	if _, err := s.SetCampaignState(ctx, "life-0", []string{store.StateDraft, store.StateScheduled}, store.StateCancelled, time.Time{}, base); err != nil {
		t.Errorf("cancel: %v", err)
	}
	if _, err := s.Launch(ctx, "life-0", base, func(context.Context, store.Campaign, func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		return store.LaunchPlan{Audience: []store.AudienceMember{{UserID: "x", Arm: "control"}}}, nil
	}); !errors.Is(err, store.ErrState) {
		t.Errorf("launch cancelled: got %v, want ErrState", err)
	}
	var ids []string
	var cur store.Cursor
	for {
		page, err := s.Campaigns(ctx, 2, cur)
		if err != nil {
			t.Fatalf("Campaigns: %v", err)
		}
		for _, c := range page {
			if len(c.ID) > 5 && c.ID[:5] == "life-" {
				ids = append(ids, c.ID)
			}
		}
		if len(page) < 2 {
			break
		}
		cur = store.Cursor{CreatedAt: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
	}
	if want := []string{"life-2", "life-1", "life-0"}; !slices.Equal(ids, want) {
		t.Errorf("paged campaigns: got %v, want %v", ids, want)
	}
}

func seedTarget(ctx context.Context, t *testing.T, s *store.Store, prefix string, n int, at time.Time) {
	t.Helper()
	apply(ctx, t, s, store.Position{Topic: "t.seed." + prefix}, func(ctx context.Context, tx *store.Tx) error {
		for k := range n {
			u := fmt.Sprintf("%s-u%02d", prefix, k)
			if err := tx.PutProfile(ctx, store.ProfileSnapshot{UserID: u, Version: 1, RFMTier: "Loyal", Consent: map[string]bool{"email": k%5 != 0}, UpdatedAt: at}); err != nil {
				return err
			}
			if err := tx.PutPrediction(ctx, store.Prediction{UserID: u, PurchasePropensity: float64(k) / float64(n), ChurnRisk: 1 - float64(k)/float64(n), ScoredAt: at}); err != nil {
				return err
			}
			segs := []string{prefix + "-all"}
			if k%2 == 0 {
				segs = append(segs, prefix+"-even")
			}
			if k%3 == 0 {
				segs = append(segs, prefix+"-three")
			}
			for _, seg := range segs {
				if err := tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: u, SegmentID: seg, Enter: true, ProfileVersion: 1, At: at}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func testCandidates(ctx context.Context, t *testing.T, s *store.Store) {
	const n = 20
	seedTarget(ctx, t, s, "cand", n, base)
	if err := s.SetDoNotContact(ctx, "cand-u01", true, "", base); err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		q    store.TargetQuery
		want int
	}{
		{"one segment", store.TargetQuery{SegmentIDs: []string{"cand-all"}}, n},
		{"intersection", store.TargetQuery{SegmentIDs: []string{"cand-even", "cand-three"}}, 4},
		{"union", store.TargetQuery{SegmentIDs: []string{"cand-even", "cand-three"}, MatchAny: true}, 13},
		{"propensity", store.TargetQuery{SegmentIDs: []string{"cand-all"}, MinPropensity: f(0.5)}, 10},
		{"propensity and churn", store.TargetQuery{SegmentIDs: []string{"cand-all"}, MinPropensity: f(0.25), MaxChurnRisk: f(0.5)}, 10},
		{"unknown segment", store.TargetQuery{SegmentIDs: []string{"cand-none"}}, 0},
		{"no segments", store.TargetQuery{}, 0},
	}
	for _, tt := range tests {
		tt.q.Channel = "email"
		got, err := s.Candidates(ctx, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != tt.want {
			t.Errorf("%s: got %d candidates, want %d", tt.name, len(got), tt.want)
		}
	}
	got, err := s.Candidates(ctx, store.TargetQuery{SegmentIDs: []string{"cand-all"}, ExcludeSegmentIDs: []string{"cand-three"}, Channel: "email"})
	if err != nil {
		t.Fatal(err)
	}
	var consent, dnc, excluded int
	for _, c := range got {
		if c.Consent {
			consent++
		}
		if c.DoNotContact {
			dnc++
		}
		if c.Excluded {
			excluded++
		}
		if !c.HasPrediction || c.RFMTier != "Loyal" {
			t.Errorf("candidate %s: got %+v, want prediction and tier", c.UserID, c)
		}
	}
	if consent != 16 || dnc != 1 || excluded != 7 {
		t.Errorf("flags: got consent %d dnc %d excluded %d, want 16 1 7", consent, dnc, excluded)
	}
	if !slices.IsSortedFunc(got, func(a, b store.Candidate) int { return cmpString(a.UserID, b.UserID) }) {
		t.Errorf("candidates not ordered by user id")
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testLaunch(ctx context.Context, t *testing.T, s *store.Store) {
	seedTarget(ctx, t, s, "launch", 10, base)
	if err := s.CreateCampaign(ctx, store.Campaign{ID: "launch-c1", Name: "c1", Channel: "email", Definition: []byte{0}, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	plan := func(failAfter int) store.Planner {
		return func(ctx context.Context, c store.Campaign, cands func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
			got, err := cands(store.TargetQuery{SegmentIDs: []string{"launch-all"}, Channel: c.Channel,
				DaySince: base.Add(-24 * time.Hour), WeekSince: base.Add(-7 * 24 * time.Hour)})
			if err != nil {
				return store.LaunchPlan{}, err
			}
			var p store.LaunchPlan
			p.ControlPercent = 5
			for k, cand := range got {
				if k == failAfter {
					return store.LaunchPlan{}, errors.New("planner crashed")
				}
				if k%4 == 0 {
					p.Audience = append(p.Audience, store.AudienceMember{UserID: cand.UserID, Arm: "control"})
					continue
				}
				id := c.ID + "/" + cand.UserID
				p.Audience = append(p.Audience, store.AudienceMember{UserID: cand.UserID, Arm: "main", MessageID: id})
				p.Messages = append(p.Messages, store.OutboxMessage{MessageID: id, UserID: cand.UserID, Channel: c.Channel, Variant: "main", Payload: []byte(id)})
			}
			return p, nil
		}
	}
	if _, err := s.Launch(ctx, "launch-c1", base, plan(5)); err == nil {
		t.Fatalf("launch with a failing planner: got nil error")
	}
	if a, _ := s.Audience(ctx, "launch-c1"); len(a) != 0 {
		t.Errorf("audience after failed launch: got %d rows, want 0", len(a))
	}
	if c, _ := s.Campaign(ctx, "launch-c1"); c.State != store.StateDraft {
		t.Errorf("state after failed launch: got %s, want draft", c.State)
	}
	// A plan whose outbox rows break a constraint fails after the audience rows went in:
	// the transaction takes them back.
	_, err := s.Launch(ctx, "launch-c1", base, func(context.Context, store.Campaign, func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		dup := store.OutboxMessage{MessageID: "launch-dup", UserID: "launch-u01", Channel: "email", Variant: "main", Payload: []byte{1}}
		return store.LaunchPlan{Audience: []store.AudienceMember{{UserID: "launch-u01", Arm: "main", MessageID: "launch-dup"}},
			Messages: []store.OutboxMessage{dup, dup}}, nil
	})
	if err == nil {
		t.Fatalf("launch with duplicate message ids: got nil error")
	}
	if a, _ := s.Audience(ctx, "launch-c1"); len(a) != 0 {
		t.Errorf("audience after failed insert: got %d rows, want 0", len(a))
	}
	c, err := s.Launch(ctx, "launch-c1", base, plan(-1))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if c.State != store.StateLaunched || c.AudienceSize != 10 || c.ControlPercent != 5 || !c.LaunchedAt.Equal(base) {
		t.Errorf("launched campaign: got %+v", c)
	}
	again, err := s.Launch(ctx, "launch-c1", base.Add(time.Hour), plan(-1))
	if !errors.Is(err, store.ErrAlreadyLaunched) || again.ID != "launch-c1" || !again.LaunchedAt.Equal(base) {
		t.Errorf("second launch: got %+v %v, want the stored campaign and ErrAlreadyLaunched", again, err)
	}
	msgs, err := s.Messages(ctx, "launch-c1")
	if err != nil || len(msgs) != 7 {
		t.Fatalf("Messages: got %d %v, want 7", len(msgs), err)
	}
	audience, _ := s.Audience(ctx, "launch-c1")
	if len(audience) != 10 {
		t.Errorf("audience: got %d, want 10", len(audience))
	}

	// The relay's view: pending oldest first, then stamped.
	var pending []string
	for {
		page, err := s.PendingMessages(ctx, base.Add(24*time.Hour), 3)
		if err != nil {
			t.Fatalf("PendingMessages: %v", err)
		}
		if len(page) == 0 {
			break
		}
		var ids []string
		for _, m := range page {
			ids = append(ids, m.MessageID)
			if m.CampaignID == "launch-c1" {
				pending = append(pending, m.MessageID)
				if string(m.Payload) != m.MessageID {
					t.Errorf("payload of %s: got %q", m.MessageID, m.Payload)
				}
			}
		}
		if err := s.MarkPublished(ctx, ids, base.Add(time.Minute)); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
	}
	if len(pending) != 7 {
		t.Errorf("pending messages of launch-c1: got %d, want 7", len(pending))
	}
	msgs, _ = s.Messages(ctx, "launch-c1")
	for _, m := range msgs {
		if !m.PublishedAt.Equal(base.Add(time.Minute)) {
			t.Errorf("message %s: published at %v, want %v", m.MessageID, m.PublishedAt, base.Add(time.Minute))
		}
	}

	// A second campaign on the channel sees the first one's audience (messaged or not)
	// in its cap counts; another channel does not.
	got, err := s.Candidates(ctx, store.TargetQuery{SegmentIDs: []string{"launch-all"}, Channel: "email",
		DaySince: base.Add(-time.Hour), WeekSince: base.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	counted := 0
	for _, c := range got {
		if c.SentDay == 1 && c.SentWeek == 1 {
			counted++
		}
	}
	if counted != 10 {
		t.Errorf("candidates counted once today: got %d, want 10", counted)
	}
	got, _ = s.Candidates(ctx, store.TargetQuery{SegmentIDs: []string{"launch-all"}, Channel: "sms",
		DaySince: base.Add(-time.Hour), WeekSince: base.Add(-time.Hour)})
	for _, c := range got {
		if c.SentDay != 0 || c.SentWeek != 0 {
			t.Errorf("candidate %s counted on sms: %+v", c.UserID, c)
		}
	}

	if err := s.CreateCampaign(ctx, store.Campaign{ID: "launch-empty", Name: "e", Channel: "email", Definition: []byte{0}, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Launch(ctx, "launch-empty", base, func(context.Context, store.Campaign, func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		return store.LaunchPlan{}, nil
	})
	if !errors.Is(err, store.ErrEmptyAudience) {
		t.Errorf("empty launch: got %v, want ErrEmptyAudience", err)
	}
	if _, err := s.Launch(ctx, "launch-none", base, plan(-1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("launch of unknown campaign: got %v, want ErrNotFound", err)
	}
}

func testArmStats(ctx context.Context, t *testing.T, s *store.Store) {
	// Users a1..a4 are treated (variant "a"), c1..c3 control. Launch at base.
	users := []struct {
		id, arm string
	}{{"arm-a1", "a"}, {"arm-a2", "a"}, {"arm-a3", "a"}, {"arm-a4", "a"}, {"arm-c1", "control"}, {"arm-c2", "control"}, {"arm-c3", "control"}}
	for _, id := range []string{"arm-c", "arm-other"} {
		if err := s.CreateCampaign(ctx, store.Campaign{ID: id, Name: id, Channel: "push", Definition: []byte{0}, CreatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Launch(ctx, "arm-c", base, func(ctx context.Context, c store.Campaign, _ func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		var p store.LaunchPlan
		for _, u := range users {
			m := store.AudienceMember{UserID: u.id, Arm: u.arm}
			if u.arm != "control" {
				m.MessageID = "arm-c/" + u.id
				p.Messages = append(p.Messages, store.OutboxMessage{MessageID: m.MessageID, UserID: u.id, Channel: "push", Variant: u.arm, Payload: []byte{1}})
			}
			p.Audience = append(p.Audience, m)
		}
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another campaign messages a2 two hours after the launch: a2's later order is its.
	if _, err := s.Launch(ctx, "arm-other", base.Add(2*time.Hour), func(context.Context, store.Campaign, func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		return store.LaunchPlan{Audience: []store.AudienceMember{{UserID: "arm-a2", Arm: "main", MessageID: "arm-other/a2"}},
			Messages: []store.OutboxMessage{{MessageID: "arm-other/a2", UserID: "arm-a2", Channel: "push", Variant: "main", Payload: []byte{1}}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, []string{"arm-c/arm-a1", "arm-c/arm-a2", "arm-c/arm-a3"}, base); err != nil {
		t.Fatal(err)
	}
	type ev struct {
		user, event string
		after       time.Duration
		amount      int64
		coupon      string
		message     string
	}
	events := []ev{
		{"arm-a1", "Order Completed", time.Hour, 1000, "ARM-C", ""},
		{"arm-a1", "Order Completed", 2 * time.Hour, 500, "", ""},  // same user: one conversion, revenue adds up
		{"arm-a2", "Order Completed", 3 * time.Hour, 700, "", ""},  // last touch: arm-other
		{"arm-a3", "Order Completed", 80 * time.Hour, 900, "", ""}, // after the 72 h window
		{"arm-a4", "Order Completed", -time.Hour, 900, "", ""},     // before the launch
		{"arm-c1", "Order Completed", 10 * time.Hour, 300, "", ""}, // control conversion
		{"arm-c2", "Lesson Started", 10 * time.Hour, 0, "", ""},    // not the goal
		{"arm-a1", "Message Delivered", time.Minute, 0, "", "arm-c/arm-a1"},
		{"arm-a1", "Message Opened", 2 * time.Minute, 0, "", "arm-c/arm-a1"},
		{"arm-a2", "Message Delivered", time.Minute, 0, "", "arm-c/arm-a2"},
	}
	apply(ctx, t, s, store.Position{Topic: "t.arm"}, func(ctx context.Context, tx *store.Tx) error {
		for k, e := range events {
			discount := int64(0)
			if e.coupon != "" {
				discount = 250
			}
			if _, err := tx.AddInteraction(ctx, store.Interaction{EventID: fmt.Sprintf("arm-e%d", k), UserID: e.user, At: base.Add(e.after), Event: e.event,
				Kind: "x", AmountMinor: e.amount, DiscountMinor: discount, Currency: "CNY", Coupon: e.coupon, MessageID: e.message}); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := s.ArmStats(ctx, store.ArmQuery{CampaignID: "arm-c", Goal: "Order Completed", Window: 72 * time.Hour, Currency: "CNY", Coupon: "ARM-C"})
	if err != nil {
		t.Fatalf("ArmStats: %v", err)
	}
	want := []store.ArmStats{
		{Arm: "a", Audience: 4, Sends: 3, Conversions: 1, RevenueMinor: 1500, DiscountMinor: 250, Delivered: 2, Opened: 1},
		{Arm: "control", Audience: 3, Conversions: 1, RevenueMinor: 300},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ArmStats:\n got %+v\nwant %+v", got, want)
	}
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	runContract(t, storetest.SQLite(t))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if got, want := (store.Config{}).Validate(), store.ErrNoDatabase; got != want {
		t.Errorf("empty config: got %v, want %v", got, want)
	}
}

func TestDayMonth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at         time.Time
		day, month int
	}{
		{time.Date(1970, 1, 1, 23, 59, 0, 0, time.UTC), 0, 197001},
		{time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), 20760, 202611},
		{time.Date(2026, 11, 3, 1, 0, 0, 0, time.FixedZone("CST", 8*3600)), 20759, 202611},
	}
	for _, tt := range tests {
		if got := store.Day(tt.at); got != tt.day {
			t.Errorf("Day(%v): got %d, want %d", tt.at, got, tt.day)
		}
		if got := store.Month(tt.at); got != tt.month {
			t.Errorf("Month(%v): got %d, want %d", tt.at, got, tt.month)
		}
	}
}

func testImport(ctx context.Context, t *testing.T, s *store.Store) {
	cs := []store.ImportedCustomer{
		{UserID: "imp-1", FirstSeen: base, RFMTier: "Champions", Orders: 3, DiscountedOrders: 1, Consent: map[string]bool{"sms": true, "email": false},
			Prediction: &store.Prediction{PurchasePropensity: 0.9, ScoredAt: base}, Segments: []string{"imp-a", "imp-b"}},
		{UserID: "imp-2", Consent: map[string]bool{"sms": true}, Segments: []string{"imp-a"}},
	}
	if err := s.ImportCustomers(ctx, cs, base); err != nil {
		t.Fatalf("ImportCustomers: %v", err)
	}
	got, err := s.Candidates(ctx, store.TargetQuery{SegmentIDs: []string{"imp-a"}, Channel: "sms"})
	if err != nil || len(got) != 2 {
		t.Fatalf("candidates after import: got %+v %v", got, err)
	}
	if c := got[0]; c.UserID != "imp-1" || !c.Consent || !c.HasPrediction || c.PurchasePropensity != 0.9 || c.Orders != 3 || c.DiscountedOrders != 1 || c.RFMTier != "Champions" {
		t.Errorf("imported candidate: got %+v", c)
	}
	if got[1].HasPrediction {
		t.Errorf("imp-2 has a prediction: %+v", got[1])
	}
	// Importing an existing customer fails and writes nothing.
	err = s.ImportCustomers(ctx, []store.ImportedCustomer{{UserID: "imp-3", Segments: []string{"imp-c"}}, {UserID: "imp-1"}}, base)
	if err == nil {
		t.Fatalf("import of an existing customer: got nil error")
	}
	if got, _ := s.Candidates(ctx, store.TargetQuery{SegmentIDs: []string{"imp-c"}}); len(got) != 0 {
		t.Errorf("failed import left %d members behind", len(got))
	}
}

func testRevenue(ctx context.Context, t *testing.T, s *store.Store) {
	jan := time.Date(2032, 1, 10, 0, 0, 0, 0, time.UTC)
	feb, mar := jan.AddDate(0, 1, 0), jan.AddDate(0, 2, 0)
	apply(ctx, t, s, store.Position{Topic: "t.revenue"}, func(ctx context.Context, tx *store.Tx) error {
		for _, it := range []store.CatalogItem{{ItemID: "rev-a1", CreatorID: "rev-alice"}, {ItemID: "rev-x", CreatorID: "rev-other"}} {
			if err := tx.PutCatalogItem(ctx, it); err != nil {
				return err
			}
		}
		touches := []struct {
			user string
			at   time.Time
		}{{"rev-r1", jan}, {"rev-r2", jan}, {"rev-r1", feb}, {"rev-r3", feb}, {"rev-r3", mar}}
		for _, tc := range touches {
			if err := tx.TouchCustomer(ctx, tc.user, tc.at); err != nil {
				return err
			}
		}
		orders := []store.Order{
			{OrderID: "rev-o1", UserID: "rev-r1", EventID: "rev-e1", At: jan, RevenueMinor: 1000, Currency: "CNY", Items: []store.OrderItem{{ItemID: "rev-a1", Quantity: 1, PriceMinor: 1000}}},
			{OrderID: "rev-o2", UserID: "rev-r1", EventID: "rev-e2", At: feb, RevenueMinor: 2000, Currency: "CNY", Coupon: "REV-ALICE",
				Items: []store.OrderItem{{ItemID: "rev-a1", Quantity: 1, PriceMinor: 1500}, {ItemID: "rev-x", Quantity: 1, PriceMinor: 1000}}},
			{OrderID: "rev-o3", UserID: "rev-r3", EventID: "rev-e3", At: feb, RevenueMinor: 500, Currency: "CNY", Referrer: "rev-alice", Items: []store.OrderItem{{ItemID: "rev-x", Quantity: 1, PriceMinor: 500}}},
			{OrderID: "rev-o4", UserID: "rev-r3", EventID: "rev-e4", At: feb, RevenueMinor: 800, Currency: "USD", Items: []store.OrderItem{{ItemID: "rev-a1", Quantity: 1, PriceMinor: 800}}},
		}
		for _, o := range orders {
			if _, err := tx.AddOrder(ctx, o); err != nil {
				return err
			}
		}
		if err := tx.AddRefund(ctx, store.Refund{EventID: "rev-rf1", OrderID: "rev-o1", UserID: "rev-r1", At: feb, AmountMinor: 300, Currency: "CNY"}); err != nil {
			return err
		}
		for u, clv := range map[string]int64{"rev-r1": 5000, "rev-r3": 1000} {
			if err := tx.PutPrediction(ctx, store.Prediction{UserID: u, CLVMinor: clv, Currency: "CNY", ScoredAt: jan}); err != nil {
				return err
			}
		}
		return tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: "rev-r1", SegmentID: "rev-vip", Enter: true, ProfileVersion: 1})
	})
	rows, err := s.Revenue(ctx, store.RevenueQuery{Dimension: store.RevenueByMonth, From: 203201, To: 203203, Currency: "CNY"})
	if err != nil {
		t.Fatalf("Revenue: %v", err)
	}
	want := []store.RevenueRow{
		{Month: 203201, GMVMinor: 1000, Active: 2, Paying: 1, AvgCLVMinor: 5000},
		{Month: 203202, GMVMinor: 2500, RefundsMinor: 300, Active: 2, Paying: 2, Returning: 1, PrevActive: 2, Churned: 1, AvgCLVMinor: 3000},
		{Month: 203203, Active: 1, PrevActive: 2, Churned: 1},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("revenue by month:\n got %+v\nwant %+v", rows, want)
	}
	rows, err = s.Revenue(ctx, store.RevenueQuery{Dimension: store.RevenueByCohort, From: 203202, To: 203202, Currency: "CNY"})
	if err != nil {
		t.Fatalf("Revenue by cohort: %v", err)
	}
	want = []store.RevenueRow{
		{Key: "203201", Month: 203202, GMVMinor: 2000, RefundsMinor: 300, Active: 1, Paying: 1, Returning: 1, PrevActive: 2, Churned: 1, AvgCLVMinor: 5000},
		{Key: "203202", Month: 203202, GMVMinor: 500, Active: 1, Paying: 1, AvgCLVMinor: 1000},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("revenue by cohort:\n got %+v\nwant %+v", rows, want)
	}
	rows, _ = s.Revenue(ctx, store.RevenueQuery{Dimension: store.RevenueBySegment, From: 203202, To: 203202, Currency: "CNY"})
	if len(rows) != 1 || rows[0].Key != "rev-vip" || rows[0].GMVMinor != 2000 {
		t.Errorf("revenue by segment: got %+v", rows)
	}
	if rows, _ := s.Revenue(ctx, store.RevenueQuery{Dimension: store.RevenueByRFMTier, From: 203202, To: 203202, Currency: "USD"}); len(rows) != 1 || rows[0].GMVMinor != 800 {
		t.Errorf("revenue in USD by tier: got %+v", rows)
	}
	if _, err := s.Revenue(ctx, store.RevenueQuery{Dimension: "planet"}); err == nil {
		t.Errorf("unknown dimension: got nil error")
	}

	rules := []store.RevenueShareRule{
		{RuleID: "rev-default", EffectiveMonth: 203201, OwnShareBps: 7000, PlatformShareBps: 5000},
		{RuleID: "rev-alice", CreatorID: "rev-alice", EffectiveMonth: 203202, OwnShareBps: 8000, PlatformShareBps: 6000, PlatformFeeBps: 300, ClawbackDays: 40, Coupons: []string{"REV-ALICE"}},
	}
	for _, r := range rules {
		if err := s.PutRevenueShareRule(ctx, r); err != nil {
			t.Fatalf("PutRevenueShareRule(%s): %v", r.RuleID, err)
		}
	}
	rules[1].OwnShareBps = 8500 // replacing a rule by id is fine
	if err := s.PutRevenueShareRule(ctx, rules[1]); err != nil {
		t.Errorf("replace rule: %v", err)
	}
	if err := s.PutRevenueShareRule(ctx, store.RevenueShareRule{RuleID: "rev-alice-2", CreatorID: "rev-alice", EffectiveMonth: 203202}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second rule for the same creator and month: got %v, want ErrExists", err)
	}
	if err := s.PutRevenueShareRule(ctx, store.RevenueShareRule{RuleID: "rev-bob", CreatorID: "rev-bob", EffectiveMonth: 203202, Coupons: []string{"REV-ALICE"}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("another creator's coupon: got %v, want ErrExists", err)
	}
	got, err := s.RevenueShareRules(ctx, "rev-alice")
	if err != nil || len(got) != 2 || got[0].RuleID != "rev-default" || got[1].OwnShareBps != 8500 || !slices.Equal(got[1].Coupons, []string{"REV-ALICE"}) {
		t.Errorf("RevenueShareRules: got %+v %v", got, err)
	}

	act, err := s.CreatorActivity(ctx, "rev-alice", 203202, "CNY")
	if err != nil {
		t.Fatalf("CreatorActivity: %v", err)
	}
	if len(act.Sales) != 1 || act.Sales[0].OrderID != "rev-o2" || !slices.Equal(act.Sales[0].Creators, []string{"rev-alice", "rev-other"}) ||
		act.Sales[0].Coupon != "REV-ALICE" || len(act.Sales[0].Items) != 2 {
		t.Errorf("sales: got %+v", act.Sales)
	}
	if len(act.Refunds) != 1 || act.Refunds[0].OrderID != "rev-o1" || act.Refunds[0].AmountMinor != 300 || !act.Refunds[0].Order.At.Equal(jan) ||
		!slices.Equal(act.Refunds[0].Order.Creators, []string{"rev-alice"}) {
		t.Errorf("refunds: got %+v", act.Refunds)
	}
	if !act.Coupons["REV-ALICE"] || len(act.Coupons) != 1 {
		t.Errorf("coupons: got %v", act.Coupons)
	}
}
