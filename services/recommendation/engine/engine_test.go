package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/store"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t   testing.TB
	eng *Engine
	mr  *miniredis.Miniredis
	rdb *redis.Client
	seq int
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	if cfg.RedisTimeout == 0 {
		cfg.RedisTimeout = time.Second
	}
	eng, err := New(cfg, store.New(rdb, store.Limits{HalfLife: 30 * 24 * time.Hour}), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	eng.now = func() time.Time { return now }
	t.Cleanup(eng.Close)
	return &fixture{t: t, eng: eng, mr: mr, rdb: rdb}
}

// track delivers a track event for user through the bus handler.
func (f *fixture) track(user, event string, props map[string]any) {
	f.t.Helper()
	f.seq++
	p, err := structpb.NewStruct(props)
	if err != nil {
		f.t.Fatalf("properties: %v", err)
	}
	ev := &eventv1.Event{
		EventId: fmt.Sprintf("e%d", f.seq), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: event, UserId: user,
		Timestamp: timestamppb.New(now.Add(time.Duration(f.seq-1000) * time.Minute)), Properties: p,
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		f.t.Fatalf("marshal: %v", err)
	}
	if err := f.eng.Handle(f.t.Context(), bus.Message{Topic: topics.Events, Key: []byte(user), Value: b}); err != nil {
		f.t.Fatalf("Handle %s %s: %v", user, event, err)
	}
}

func (f *fixture) buy(user string, items ...string) {
	f.t.Helper()
	var products []any
	for _, it := range items {
		products = append(products, map[string]any{"product_id": it})
	}
	f.track(user, "Order Completed", map[string]any{"order_id": fmt.Sprintf("o%d", f.seq+1), "products": products})
}

func (f *fixture) item(id, category string, typ eventv1.ItemType, price int64) {
	f.t.Helper()
	b, err := proto.Marshal(&eventv1.CatalogItem{ItemId: id, Title: "T-" + id, Category: category, Type: typ, PriceMinor: price})
	if err != nil {
		f.t.Fatalf("marshal: %v", err)
	}
	if err := f.eng.Handle(f.t.Context(), bus.Message{Topic: topics.Catalog, Key: []byte(id), Value: b}); err != nil {
		f.t.Fatalf("Handle catalog %s: %v", id, err)
	}
}

func (f *fixture) recommend(req *recommendationv1.RecommendRequest) *recommendationv1.RecommendResponse {
	f.t.Helper()
	resp, err := f.eng.Recommend(f.t.Context(), req)
	if err != nil {
		f.t.Fatalf("Recommend: %v", err)
	}
	for _, it := range resp.GetItems() {
		if it.GetReason() == "" {
			f.t.Errorf("item %s has no reason", it.GetItemId())
		}
	}
	if resp.GetVariant() == "" && req.GetUserId() != "" {
		f.t.Errorf("response has no variant")
	}
	return resp
}

func ids(resp *recommendationv1.RecommendResponse) []string {
	var out []string
	for _, it := range resp.GetItems() {
		out = append(out, it.GetItemId())
	}
	return out
}

func TestBuyerIsNotRecommendedWhatTheyBought(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.buy("other", "a", "b")
	f.buy("buyer", "a")
	got := f.recommend(&recommendationv1.RecommendRequest{UserId: "buyer", N: 5})
	if slices.Contains(ids(got), "a") || !slices.Contains(ids(got), "b") {
		t.Errorf("buyer: got %v (source %s), want b and not a", ids(got), got.GetSource())
	}
}

// world gives the engine two taste groups: go learners buy g1–g4, art learners a1–a4;
// everyone skips one item of their group.
func world(f *fixture) {
	for u := range 12 {
		group, cat := "g", "go"
		if u%2 == 1 {
			group, cat = "a", "art"
		}
		var items []string
		for i := 1; i <= 4; i++ {
			if i != 1+u%4 {
				items = append(items, fmt.Sprintf("%s%d", group, i))
			}
		}
		for _, it := range items {
			f.track(fmt.Sprintf("u%02d", u), "Product Viewed", map[string]any{"product_id": it, "category": cat})
		}
		f.buy(fmt.Sprintf("u%02d", u), items...)
	}
}

func (f *fixture) train() *recommendationv1.TrainingRun {
	f.t.Helper()
	run, err := f.eng.Train(f.t.Context())
	if err != nil {
		f.t.Fatalf("Train: %v", err)
	}
	return run
}

func TestTrainThenPersonalListsWithReasons(t *testing.T) {
	t.Parallel()
	for _, model := range []string{ModelEASE, ModelItemKNN, ModelALS} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{Variants: []Variant{{Name: "v-" + model, Model: model, Share: 100}}, EASE: easeLambda(1),
				ALS: als.Config{Factors: 2, Lambda: 1, Iterations: 20}})
			world(f)
			run := f.train()
			if run.GetStatus() != recommendationv1.TrainingStatus_TRAINING_STATUS_SUCCEEDED || run.GetUsers() != 12 || run.GetItems() != 8 || run.GetListsWritten() != 12 {
				t.Fatalf("run: got %v, want success over 12 users, 8 items, 12 lists", run)
			}
			// u00 (go) bought g2, g3, g4: g1 comes first, for a reason naming a go item.
			got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 3})
			if got.GetSource() != SourceCache || got.GetVariant() != "v-"+model || got.GetModelVersion() != run.GetModelVersion() {
				t.Errorf("got source %s variant %s version %s, want cache, v-%s, %s", got.GetSource(), got.GetVariant(), got.GetModelVersion(), model, run.GetModelVersion())
			}
			if first := got.GetItems()[0]; first.GetItemId() != "g1" || first.GetReason() == "" || first.GetReason()[:len("because you bought")] != "because you bought" {
				t.Errorf("first item: got %v, want g1 because you bought …", first)
			}
			for _, id := range ids(got) {
				if id == "g2" || id == "g3" || id == "g4" {
					t.Errorf("u00 was recommended %s, which they bought", id)
				}
			}
			// A user unknown at training time with a go history gets a list computed on the fly.
			f.track("late", "Product Viewed", map[string]any{"product_id": "g2"})
			got = f.recommend(&recommendationv1.RecommendRequest{UserId: "late", N: 1})
			if got.GetSource() != SourceComputed || ids(got)[0][0] != 'g' {
				t.Errorf("late user: got %v from %s, want a go item computed on the fly", ids(got), got.GetSource())
			}
		})
	}
}

func easeLambda(l float64) ease.Config { return ease.Config{Lambda: l} }

func TestRefreshAfterPurchase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{EASE: easeLambda(1)})
	world(f)
	f.train()
	before := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 1})
	if ids(before)[0] != "g1" {
		t.Fatalf("before: got %v, want g1 first", ids(before))
	}
	f.buy("u00", "g1")
	after := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 10})
	if after.GetSource() != SourceCache || slices.Contains(ids(after), "g1") {
		t.Errorf("after buying g1: got %v from %s, want a refreshed cached list without g1", ids(after), after.GetSource())
	}
}

func TestNegativeSignalsExclude(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{EASE: easeLambda(1)})
	world(f)
	f.train()
	f.track("u00", "Item Rated", map[string]any{"item_id": "g1", "rating": 1})
	if got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 10}); slices.Contains(ids(got), "g1") {
		t.Errorf("after rating g1 1/5: got %v, want no g1", ids(got))
	}
	// A refund names only the order: its items become negative too.
	f.track("u02", "Order Refunded", map[string]any{"order_id": "unknown-order"})
	f.buy("newbie", "a1")
	order := fmt.Sprintf("o%d", f.seq)
	f.track("newbie", "Order Refunded", map[string]any{"order_id": order})
	if got := f.recommend(&recommendationv1.RecommendRequest{UserId: "newbie", N: 10}); slices.Contains(ids(got), "a1") {
		t.Errorf("after a refund of a1: got %v, want no a1", ids(got))
	}
}

func TestColdStartNewUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	world(f)
	// Before any training: popular items from memory.
	got := f.recommend(&recommendationv1.RecommendRequest{UserId: "stranger", N: 3})
	if got.GetSource() != SourcePopular || len(got.GetItems()) != 3 {
		t.Fatalf("before training: got %v from %s, want 3 popular items", ids(got), got.GetSource())
	}
	f.train()
	got = f.recommend(&recommendationv1.RecommendRequest{UserId: "stranger", N: 3, Filters: &recommendationv1.Filters{Categories: []string{"art"}}})
	if got.GetSource() != SourcePopular || len(got.GetItems()) != 3 || got.GetItems()[0].GetReason() != "popular in art" {
		t.Errorf("after training: got %v from %s, want 3 popular art items", got.GetItems(), got.GetSource())
	}
}

func TestColdStartNewItem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	world(f)
	f.train()
	f.item("g-new", "go", eventv1.ItemType_ITEM_TYPE_COURSE, 100)
	got, err := f.eng.SimilarItems(t.Context(), "g-new", 3)
	if err != nil {
		t.Fatalf("SimilarItems(new item): %v", err)
	}
	if len(got.GetItems()) != 3 || got.GetItems()[0].GetReason() != "more in go" {
		t.Errorf("SimilarItems(new item): got %v, want 3 go items, more in go", got.GetItems())
	}
	for _, id := range ids(got) {
		if id[0] != 'g' || id == "g-new" {
			t.Errorf("SimilarItems(new item): got %s, want other go items", id)
		}
	}
	detail := f.recommend(&recommendationv1.RecommendRequest{UserId: "u01", Scene: recommendationv1.Scene_SCENE_ITEM_DETAIL, ItemId: "g-new", N: 2})
	if detail.GetSource() != SourceSimilar || len(detail.GetItems()) == 0 {
		t.Errorf("item_detail of a new item: got %v from %s, want similar items", ids(detail), detail.GetSource())
	}
	if _, err := f.eng.SimilarItems(t.Context(), "nothing", 3); err != ErrUnknownItem {
		t.Errorf("SimilarItems(unknown): got %v, want ErrUnknownItem", err)
	}
}

func TestSimilarAndPostPurchase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	world(f)
	f.train()
	got, err := f.eng.SimilarItems(t.Context(), "a1", 3)
	if err != nil {
		t.Fatalf("SimilarItems: %v", err)
	}
	for _, id := range ids(got) {
		if id[0] != 'a' || id == "a1" {
			t.Errorf("SimilarItems(a1): got %v, want other art items", ids(got))
		}
	}
	f.buy("fresh", "a2")
	pp := f.recommend(&recommendationv1.RecommendRequest{UserId: "fresh", Scene: recommendationv1.Scene_SCENE_POST_PURCHASE, OrderId: fmt.Sprintf("o%d", f.seq), N: 2})
	if pp.GetSource() != SourceSimilar || len(pp.GetItems()) != 2 || pp.GetItems()[0].GetReason() != "often bought with “T-a2”" && pp.GetItems()[0].GetReason() != "often bought with “a2”" {
		t.Errorf("post_purchase: got %v from %s, want art items often bought with a2", pp.GetItems(), pp.GetSource())
	}
	if slices.Contains(ids(pp), "a2") {
		t.Errorf("post_purchase recommends the item just bought")
	}
	if _, err := f.eng.Recommend(t.Context(), &recommendationv1.RecommendRequest{UserId: "x", Scene: recommendationv1.Scene_SCENE_ITEM_DETAIL}); err != ErrMissingItem {
		t.Errorf("item_detail without item: got %v, want ErrMissingItem", err)
	}
}

func TestFiltersAndTombstones(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	world(f)
	f.item("g1", "go", eventv1.ItemType_ITEM_TYPE_COURSE, 1000)
	f.item("g2", "go", eventv1.ItemType_ITEM_TYPE_EBOOK, 5000)
	f.item("g3", "go", eventv1.ItemType_ITEM_TYPE_COURSE, 9000)
	f.train()
	tests := []struct {
		name    string
		filters *recommendationv1.Filters
		want    []string
	}{
		{"type", &recommendationv1.Filters{Categories: []string{"go"}, ItemTypes: []string{"course"}}, []string{"g1", "g3"}},
		{"enum type name", &recommendationv1.Filters{ItemTypes: []string{"ITEM_TYPE_EBOOK"}}, []string{"g2"}},
		{"price range", &recommendationv1.Filters{MinPriceMinor: 2000, MaxPriceMinor: 9000}, []string{"g2", "g3"}},
		{"exclusions", &recommendationv1.Filters{Categories: []string{"go"}, ExcludeItemIds: []string{"g1", "g2", "g3"}}, []string{"g4"}},
	}
	for _, tt := range tests {
		got := f.recommend(&recommendationv1.RecommendRequest{UserId: "stranger", N: 10, Filters: tt.filters})
		g := ids(got)
		slices.Sort(g)
		if !slices.Equal(g, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, g, tt.want)
		}
	}
	// A tombstone removes the item from every list.
	if err := f.eng.Handle(t.Context(), bus.Message{Topic: topics.Catalog, Key: []byte("g1")}); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	for _, user := range []string{"stranger", "u00", "u02"} {
		if got := f.recommend(&recommendationv1.RecommendRequest{UserId: user, N: 20}); slices.Contains(ids(got), "g1") {
			t.Errorf("%s after g1's tombstone: got %v, want no g1", user, ids(got))
		}
	}
	if _, err := f.eng.SimilarItems(t.Context(), "g1", 3); err != ErrUnknownItem {
		t.Errorf("SimilarItems of a deleted item: got %v, want ErrUnknownItem", err)
	}
}

func TestDiversityByCategory(t *testing.T) {
	t.Parallel()
	cat := newCatalog()
	for id, c := range map[string]string{"g1": "go", "g2": "go", "g3": "go", "a1": "art", "m1": "music"} {
		cat.put(&eventv1.CatalogItem{ItemId: id, Category: c})
	}
	cands := []candidate{{item: "g1", score: 1}, {item: "g2", score: 0.95}, {item: "g3", score: 0.9}, {item: "a1", score: 0.5}, {item: "m1", score: 0.1}}
	tests := []struct {
		lambda float64
		want   []string
	}{
		{1, []string{"g1", "g2", "g3"}},
		{0.6, []string{"g1", "a1", "g2"}},
		{0.5, []string{"g1", "a1", "m1"}},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range diversify(slices.Clone(cands), 3, tt.lambda, cat) {
			got = append(got, c.item)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("λ=%v: got %v, want %v", tt.lambda, got, tt.want)
		}
	}
}

func TestRedisDownServesPopularFromMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RedisTimeout: 50 * time.Millisecond})
	world(f)
	f.train()
	f.mr.Close()
	start := time.Now()
	for _, scene := range []recommendationv1.Scene{recommendationv1.Scene_SCENE_HOME, recommendationv1.Scene_SCENE_EMAIL, recommendationv1.Scene_SCENE_POST_PURCHASE} {
		got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", Scene: scene, N: 3})
		if got.GetSource() != SourcePopular || len(got.GetItems()) != 3 {
			t.Errorf("%v with Redis down: got %v from %s, want 3 popular items", scene, ids(got), got.GetSource())
		}
	}
	got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", Scene: recommendationv1.Scene_SCENE_ITEM_DETAIL, ItemId: "g1", N: 3})
	if len(got.GetItems()) != 3 {
		t.Errorf("item_detail with Redis down: got %v, want 3 items", ids(got))
	}
	// Bounded by the budget, not by Redis' client timeouts (a generous margin: no
	// wall-clock assertion on the exact latency).
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("4 requests with Redis down took %v", d)
	}
	if _, err := f.eng.Train(t.Context()); err == nil {
		t.Errorf("Train with Redis down: got nil error")
	}
	if got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 3}); got.GetModelVersion() == "" {
		t.Errorf("the models of the last good run should still serve")
	}
}

func TestVariantAssignment(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Variants: []Variant{{Name: "A", Model: ModelEASE, Share: 80}, {Name: "B", Model: ModelItemKNN, Share: 20}}})
	counts := map[string]int{}
	for i := range 10000 {
		user := fmt.Sprintf("user-%d", i)
		v := f.eng.Variant(user)
		if again := f.eng.Variant(user); again != v {
			t.Fatalf("%s: variant %v then %v", user, v, again)
		}
		counts[v.Name]++
	}
	if a := counts["A"]; a < 7700 || a > 8300 {
		t.Errorf("variant A: got %d of 10000 users, want about 8000", a)
	}
	bad := Config{Variants: []Variant{{Name: "A", Model: ModelEASE, Share: 60}}}
	if err := bad.Validate(); err != ErrBadVariants {
		t.Errorf("shares of 60%%: got %v, want ErrBadVariants", err)
	}
}

func TestRedeliveryCountsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	p, _ := structpb.NewStruct(map[string]any{"product_id": "x"})
	ev := &eventv1.Event{EventId: "same", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Product Viewed", UserId: "u", Timestamp: timestamppb.New(now), Properties: p}
	b, _ := proto.Marshal(ev)
	for range 3 {
		if err := f.eng.Handle(t.Context(), bus.Message{Topic: topics.Events, Key: []byte("u"), Value: b}); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	if w := f.eng.popular.top().weights; w["x"] != 1 {
		t.Errorf("popularity of x after 3 deliveries of one view: got %v, want 1", w["x"])
	}
	if err := f.eng.Handle(t.Context(), bus.Message{Topic: topics.Events, Key: []byte("u"), Value: []byte{0xff}}); !bus.IsPermanent(err) {
		t.Errorf("undecodable event: got %v, want a permanent error", err)
	}
}

func TestBatchWithABadEventAppliesNothingTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	view := func(id, item string) bus.Message {
		p, _ := structpb.NewStruct(map[string]any{"product_id": item})
		b, _ := proto.Marshal(&eventv1.Event{EventId: id, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Product Viewed", UserId: "u", Timestamp: timestamppb.New(now), Properties: p})
		return bus.Message{Topic: topics.Events, Key: []byte("u"), Value: b}
	}
	batch := []bus.Message{view("b1", "x"), {Topic: topics.Events, Key: []byte("u"), Value: []byte{0xff}}, view("b2", "y")}
	if err := bus.InOrder(f.eng.Handle)(t.Context(), batch); !bus.IsPermanent(err) {
		t.Fatalf("batch with an undecodable event: got %v, want its permanent error", err)
	}
	if got := f.eng.applied.Load(); got != 1 {
		t.Errorf("events applied by the failed batch: got %d, want 1 (the one before the bad one)", got)
	}
	// The consumer then re-runs the batch message by message: nothing counts twice.
	for _, m := range batch {
		_ = f.eng.Handle(t.Context(), m)
	}
	if got := f.eng.applied.Load(); got != 2 {
		t.Errorf("events applied after the re-run: got %d, want 2", got)
	}
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// TestMain silences go-redis' own logger, which reports every failed dial of the tests
// that stop Redis on purpose.
func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

func TestVariantHashIsFNV1a(t *testing.T) {
	t.Parallel()
	for _, user := range []string{"", "u1", "用户-42"} {
		h := fnv.New32a()
		_, _ = h.Write([]byte(variantSalt + user))
		if got, want := fnv1a(fnv1a(offset32, variantSalt), user), h.Sum32(); got != want {
			t.Errorf("fnv1a(%q): got %d, want hash/fnv's %d", user, got, want)
		}
	}
}
