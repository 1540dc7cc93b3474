//go:build integration

package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stratahq/strata/services/crm/store"
)

// The report benchmarks run over a generated CRM in a schema of its own, kept between
// runs: the first run loads it with COPY (minutes), later runs find it loaded and only
// measure. Dropping the schema (DROP SCHEMA crm_bench_reports CASCADE) forces a reload.
const (
	benchSchema = "crm_bench_reports"
	benchUsers  = 1_000_000
	// benchAudience users (every tenth) are in the measured campaign; every twentieth in
	// a second campaign a day later, which takes some of the last touches.
	benchCampaign  = "bench-campaign"
	benchCampaign2 = "bench-campaign-2"
	benchDays      = 90
)

// benchInteractions is the size of the interactions table: 10M unless
// STRATA_CRM_BENCH_INTERACTIONS says otherwise (a different size reloads the schema).
func benchInteractions(b *testing.B) int {
	b.Helper()
	if v := os.Getenv("STRATA_CRM_BENCH_INTERACTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("STRATA_CRM_BENCH_INTERACTIONS=%q: want a positive integer", v)
		}
		return n
	}
	return 10_000_000
}

var benchStart = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// benchLaunch is when the measured campaign launched: day 60 of the 90.
var benchLaunch = benchStart.Add(60 * 24 * time.Hour)

func benchUser(k int) string { return fmt.Sprintf("user-%07d", k) }

// benchArm assigns the measured campaign's audience (users k with k%10 == 0): 5 %
// control, 5 % holdout, the rest split between variants a and b.
func benchArm(k int) string {
	switch j := (k / 10) % 20; {
	case j == 0:
		return "control"
	case j == 1:
		return "holdout"
	case j%2 == 0:
		return "a"
	default:
		return "b"
	}
}

// openBench opens (creating and loading when needed) the benchmark schema.
func openBench(b *testing.B, n int) *store.Store {
	b.Helper()
	ctx := context.Background()
	raw := os.Getenv("STRATA_POSTGRES_URL")
	if raw == "" {
		b.Fatal("STRATA_POSTGRES_URL is not set: eval \"$(scripts/infra env)\"")
	}
	admin, err := pgx.Connect(ctx, raw)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+benchSchema); err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", benchSchema)
	u.RawQuery = q.Encode()
	s, err := store.Open(ctx, store.Config{PostgresURL: u.String()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_meta (interactions BIGINT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var loaded int64
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(interactions), 0) FROM bench_meta`).Scan(&loaded); err != nil {
		b.Fatal(err)
	}
	if loaded != int64(n) {
		start := time.Now()
		loadBench(b, conn, n)
		// The load writes the rows with COPY, around the consumers' writes that keep
		// the revenue roll-ups: fill them from the loaded rows, as migration 7 does.
		if err := s.RebuildRollups(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d interactions into schema %s in %v", n, benchSchema, time.Since(start).Round(time.Second))
	}
	return s
}

// loadBench empties the schema's tables and fills them with COPY. The secondary
// indexes of the big tables are dropped during the load and built again after it
// (from their own definitions, so the migrations stay the one source of the schema).
func loadBench(b *testing.B, conn *pgx.Conn, n int) {
	b.Helper()
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		b.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`TRUNCATE bench_meta, customers, consents, predictions, segment_members, interactions, orders, order_items, feedback,
		catalog_items, campaigns, campaign_audience, outbox, refunds, activity_months, message_events`)
	big := []string{"interactions", "orders", "feedback", "activity_months", "campaign_audience", "outbox", "segment_members", "message_events"}
	var defs []string
	rows, err := conn.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`, big)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			b.Fatal(err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	if rows.Err() != nil {
		b.Fatal(rows.Err())
	}
	for _, name := range names {
		exec(`DROP INDEX ` + pgx.Identifier{name}.Sanitize())
	}
	copyRows := func(table string, cols []string, count int, row func(i int) []any) {
		b.Helper()
		i := 0
		got, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == count {
				return nil, nil
			}
			r := row(i)
			i++
			return r, nil
		}))
		if err != nil || got != int64(count) {
			b.Fatalf("copy %s: %d of %d rows: %v", table, got, count, err)
		}
	}
	us := func(t time.Time) int64 { return t.UnixMicro() }
	tiers := []string{"Champions", "Loyal", "Potential Loyalist", "At Risk", "Hibernating"}
	copyRows("customers", []string{"user_id", "first_seen_us", "last_interaction_us", "rfm_tier", "lifecycle", "updated_us"}, benchUsers,
		func(k int) []any {
			return []any{benchUser(k), us(benchStart), us(benchStart.Add(89 * 24 * time.Hour)), tiers[k%len(tiers)], "active", us(benchStart)}
		})
	copyRows("predictions", []string{"user_id", "purchase_propensity", "churn_risk", "clv_minor", "currency", "p_alive", "scored_us"}, benchUsers,
		func(k int) []any {
			return []any{benchUser(k), float64(k%100) / 100, float64(k%7) / 7, int64(k%50) * 1000, "CNY", 0.9, us(benchStart)}
		})
	// Every user is in "all" and in their tier's segment.
	copyRows("segment_members", []string{"segment_id", "user_id", "member", "profile_version", "since_us"}, 2*benchUsers,
		func(i int) []any {
			k := i / 2
			seg := "all"
			if i%2 == 1 {
				seg = "tier-" + strconv.Itoa(k%len(tiers))
			}
			return []any{seg, benchUser(k), true, int64(1), us(benchStart)}
		})
	// Three months of activity for most users.
	copyRows("activity_months", []string{"month", "user_id"}, 3*benchUsers, func(i int) []any {
		return []any{[]int{203101, 203102, 203103}[i%3], benchUser(i / 3)}
	})

	// Interactions arrive in time order, users at random. 5 % are orders (with an order
	// and an order item), 2 % ratings (with feedback), 10 % message events.
	rng := rand.New(rand.NewPCG(42, 7))
	step := int64(benchDays) * 24 * int64(time.Hour/time.Microsecond) / int64(n)
	type order struct {
		id, user string
		at       int64
		revenue  int64
		item     string
	}
	var orders []order
	var feedback, engagement [][]any
	engaged := map[string]bool{}
	learning := []string{"Lesson Started", "Lesson Completed", "Product Viewed", "Item Favorited", "Recommendation Shown"}
	copyRows("interactions", []string{"event_id", "user_id", "at_us", "event", "kind", "item_id", "order_id", "amount_minor",
		"discount_minor", "currency", "coupon", "measure", "campaign_id", "message_id", "ticket_id"}, n,
		func(i int) []any {
			k := rng.IntN(benchUsers)
			user, at := benchUser(k), us(benchStart)+int64(i)*step
			item := "item-" + strconv.Itoa(rng.IntN(5000))
			id := fmt.Sprintf("ev-%010d", i)
			switch p := rng.IntN(100); {
			case p < 5:
				rev := int64(1000 + rng.IntN(20000))
				orders = append(orders, order{id: "ord-" + id, user: user, at: at, revenue: rev, item: item})
				return []any{id, user, at, "Order Completed", "purchase", item, "ord-" + id, rev, int64(0), "CNY", "", 0.0, "", "", ""}
			case p < 7:
				score := 1 + rng.IntN(5)
				t := time.UnixMicro(at).UTC()
				feedback = append(feedback, []any{id, user, at, store.Day(t), store.Month(t), "rating", score, item, ""})
				return []any{id, user, at, "Item Rated", "rating", item, "", int64(0), int64(0), "", "", float64(score), "", "", ""}
			case p < 17 && k%10 == 0 && at >= us(benchLaunch):
				ev := []string{"Message Delivered", "Message Opened", "Message Clicked"}[rng.IntN(3)]
				msg := fmt.Sprintf("msg-%07d", k)
				// What AddInteraction records for a message of the campaign (control
				// and holdout members have none).
				if arm := benchArm(k); arm != "control" && arm != "holdout" && !engaged[msg+ev] {
					engaged[msg+ev] = true
					engagement = append(engagement, []any{msg, ev, benchCampaign, arm, at})
				}
				return []any{id, user, at, ev, "message", "", "", int64(0), int64(0), "", "", 0.0, benchCampaign, msg, ""}
			default:
				return []any{id, user, at, learning[rng.IntN(len(learning))], "learning", item, "", int64(0), int64(0), "", "", float64(rng.IntN(60)), "", "", ""}
			}
		})
	copyRows("orders", []string{"order_id", "user_id", "at_us", "month", "revenue_minor", "discount_minor", "currency", "coupon", "event_id"}, len(orders),
		func(i int) []any {
			o := orders[i]
			return []any{o.id, o.user, o.at, store.Month(time.UnixMicro(o.at)), o.revenue, int64(0), "CNY", "", o.id[4:]}
		})
	copyRows("order_items", []string{"order_id", "line", "item_id", "quantity", "price_minor", "category"}, len(orders),
		func(i int) []any { return []any{orders[i].id, 0, orders[i].item, 1, orders[i].revenue, "course"} })
	copyRows("feedback", []string{"event_id", "user_id", "at_us", "day", "month", "metric", "score", "item_id", "creator_id"}, len(feedback),
		func(i int) []any { return feedback[i] })
	copyRows("message_events", []string{"message_id", "event", "campaign_id", "variant", "at_us"}, len(engagement),
		func(i int) []any { return engagement[i] })
	copyRows("catalog_items", []string{"item_id", "creator_id", "category", "price_minor", "currency"}, 5000,
		func(i int) []any {
			return []any{"item-" + strconv.Itoa(i), "creator-" + strconv.Itoa(i%200), "course", int64(9900), "CNY"}
		})

	// The measured campaign (every tenth user) and a second one a day later (every
	// twentieth), with their audiences and published messages.
	for _, c := range []struct {
		id    string
		every int
		at    time.Time
	}{{benchCampaign, 10, benchLaunch}, {benchCampaign2, 20, benchLaunch.Add(24 * time.Hour)}} {
		exec(`INSERT INTO campaigns (campaign_id, name, state, channel, definition, created_us, updated_us, launched_us, audience_size, control_percent)
			VALUES ($1, $1, 'launched', 'email', '\x00'::bytea, $2, $2, $2, $3, 5)`, c.id, us(c.at), int64(benchUsers/c.every))
		msg := func(k int) string {
			if c.id == benchCampaign {
				return fmt.Sprintf("msg-%07d", k)
			}
			return fmt.Sprintf("msg2-%07d", k)
		}
		copyRows("campaign_audience", []string{"campaign_id", "user_id", "arm", "message_id", "assigned_us"}, benchUsers/c.every,
			func(i int) []any {
				k := i * c.every
				arm := benchArm(k)
				id := ""
				if arm != "control" && arm != "holdout" {
					id = msg(k)
				}
				return []any{c.id, benchUser(k), arm, id, us(c.at)}
			})
		var treated []int
		for k := 0; k < benchUsers; k += c.every {
			if a := benchArm(k); a != "control" && a != "holdout" {
				treated = append(treated, k)
			}
		}
		copyRows("outbox", []string{"message_id", "campaign_id", "user_id", "channel", "variant", "discount_minor", "created_us", "payload", "published_us"},
			len(treated), func(i int) []any {
				k := treated[i]
				return []any{msg(k), c.id, benchUser(k), "email", benchArm(k), int64(0), us(c.at), []byte{0}, us(c.at) + 1}
			})
	}
	for _, def := range defs {
		exec(def)
	}
	// VACUUM sets the visibility map that index-only scans need, as autovacuum would.
	exec(`VACUUM ANALYZE`)
	exec(`INSERT INTO bench_meta (interactions) VALUES ($1)`, int64(n))
}

// BenchmarkReports measures the report queries over the generated CRM: one query per
// iteration. Run it with
//
//	go test -tags integration -run '^$' -bench BenchmarkReports -benchtime 20x ./store/
func BenchmarkReports(b *testing.B) {
	n := benchInteractions(b)
	s := openBench(b, n)
	ctx := context.Background()
	// The user of the first interaction (the load's first draw): one with a timeline.
	firstUser := benchUser(rand.New(rand.NewPCG(42, 7)).IntN(benchUsers))
	queries := []struct {
		name string
		run  func() (int, error)
	}{
		{"campaign_report", func() (int, error) {
			r, err := s.ArmStats(ctx, store.ArmQuery{CampaignID: benchCampaign, Goal: "Order Completed", Window: 72 * time.Hour, Currency: "CNY", Coupon: "X"})
			return len(r), err
		}},
		{"customer_360", func() (int, error) {
			c, err := s.Customer(ctx, firstUser, 50)
			return len(c.Interactions), err
		}},
		{"satisfaction_by_month", func() (int, error) {
			r, err := s.Satisfaction(ctx, store.SatisfactionQuery{Dimension: store.ByMonth})
			return len(r), err
		}},
		{"satisfaction_by_creator_30d", func() (int, error) {
			r, err := s.Satisfaction(ctx, store.SatisfactionQuery{Dimension: store.ByCreator, From: benchLaunch, To: benchLaunch.Add(30 * 24 * time.Hour)})
			return len(r), err
		}},
		{"revenue_by_month", func() (int, error) {
			r, err := s.Revenue(ctx, store.RevenueQuery{Dimension: store.RevenueByMonth, From: 203102, To: 203103, Currency: "CNY"})
			return len(r), err
		}},
		{"revenue_by_rfm_tier", func() (int, error) {
			r, err := s.Revenue(ctx, store.RevenueQuery{Dimension: store.RevenueByRFMTier, From: 203103, To: 203103, Currency: "CNY"})
			return len(r), err
		}},
	}
	if os.Getenv("STRATA_CRM_BENCH_VERIFY") != "" {
		// The revenue queries against their definition on the rows (about 15 s each).
		for _, q := range []store.RevenueQuery{
			{Dimension: store.RevenueByMonth, From: 203101, To: 203104, Currency: "CNY"},
			{Dimension: store.RevenueByRFMTier, From: 203103, To: 203103, Currency: "CNY"},
		} {
			got, err := s.Revenue(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			want, err := s.RevenueReference(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if !equalRevenue(got, want) {
				b.Fatalf("Revenue(%+v):\n got %+v\nwant %+v", q, got, want)
			}
			b.Logf("Revenue(%+v) equals the report from the rows: %d rows", q, len(got))
		}
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := q.run()
				if err != nil {
					b.Fatal(err)
				}
				if rows == 0 {
					b.Fatalf("%s returned nothing", q.name)
				}
			}
		})
	}
	b.ReportMetric(float64(n), "interactions")
}

// BenchmarkRollupRebuild measures filling the revenue roll-ups from the rows of the
// generated CRM: what migration 7 does once on an existing database. Run it with
//
//	go test -tags integration -run '^$' -bench BenchmarkRollupRebuild -benchtime 1x ./store/
func BenchmarkRollupRebuild(b *testing.B) {
	s := openBench(b, benchInteractions(b))
	ctx := context.Background()
	for b.Loop() {
		if err := s.RebuildRollups(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
