package catalog_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCatalog(t *testing.T) (*catalog.Catalog, *bustest.Recorder) {
	t.Helper()
	rec := &bustest.Recorder{}
	c, err := catalog.New(rec, catalog.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	c, rec := newCatalog(t)
	in := &eventv1.CatalogItem{ItemId: " c1 ", Type: eventv1.ItemType_ITEM_TYPE_LIVE_CLASS, Title: "直播课", PriceMinor: 990, Currency: "CNY", Tags: []string{"live"}}
	if err := c.Upsert(t.Context(), []*eventv1.CatalogItem{in}); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	msgs := rec.Messages()
	if len(msgs) != 1 || msgs[0].Topic != topics.Catalog || string(msgs[0].Key) != "c1" {
		t.Fatalf("records: got %+v, want one on %s keyed c1", msgs, topics.Catalog)
	}
	got := &eventv1.CatalogItem{}
	if err := proto.Unmarshal(msgs[0].Value, got); err != nil {
		t.Fatal(err)
	}
	if got.GetItemId() != "c1" || !got.GetUpdatedAt().AsTime().Equal(now) || got.GetTitle() != "直播课" {
		t.Errorf("item: got %v, want c1 stamped %v", got, now)
	}
	if op, _ := msgs[0].Header(catalog.HeaderOp); op != catalog.OpUpsert {
		t.Errorf("op header: got %q, want %q", op, catalog.OpUpsert)
	}
	if in.GetUpdatedAt() != nil {
		t.Errorf("caller's item modified")
	}
}

func TestUpsertInvalidNamesEveryItem(t *testing.T) {
	t.Parallel()
	c, rec := newCatalog(t)
	err := c.Upsert(t.Context(), []*eventv1.CatalogItem{
		{ItemId: "c1"}, // no type, no title
		{ItemId: "c2", Type: eventv1.ItemType_ITEM_TYPE_EBOOK, Title: "ok"},
		{ItemId: "c3", Type: eventv1.ItemType_ITEM_TYPE_EBOOK, Title: "x", Currency: "yuan"},
	})
	var ie *catalog.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("Upsert: got %v, want *InvalidError", err)
	}
	fields := map[string]bool{}
	for _, v := range ie.Violations {
		fields[v.Field] = true
	}
	for _, f := range []string{"items[0].type", "items[0].title", "items[2].currency"} {
		if !fields[f] {
			t.Errorf("violations %v: want one named %s", fields, f)
		}
	}
	if len(rec.Calls()) != 0 {
		t.Errorf("published despite invalid items")
	}
}

func TestDeleteAndUnavailable(t *testing.T) {
	t.Parallel()
	c, rec := newCatalog(t)
	if err := c.Delete(t.Context(), []string{"c1"}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if m := rec.Messages(); len(m) != 1 || m[0].Value != nil || string(m[0].Key) != "c1" {
		t.Errorf("records: got %+v, want one tombstone for c1", m)
	}
	rec.SetErr(errors.New("broker down"))
	if err := c.Delete(t.Context(), []string{"c1"}); !errors.Is(err, catalog.ErrUnavailable) {
		t.Errorf("Delete with Kafka down: got %v, want ErrUnavailable", err)
	}
	if err := c.Upsert(t.Context(), []*eventv1.CatalogItem{{ItemId: "c1", Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: "t"}}); !errors.Is(err, catalog.ErrUnavailable) {
		t.Errorf("Upsert with Kafka down: got %v, want ErrUnavailable", err)
	}
}
