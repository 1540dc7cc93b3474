package engine

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/content"
)

// put delivers a catalog item through the bus handler.
func (f *fixture) put(it *eventv1.CatalogItem) {
	f.t.Helper()
	b, err := proto.Marshal(it)
	if err != nil {
		f.t.Fatalf("marshal: %v", err)
	}
	if err := f.eng.Handle(f.t.Context(), bus.Message{Topic: topics.Catalog, Key: []byte(it.GetItemId()), Value: b}); err != nil {
		f.t.Fatalf("Handle catalog %s: %v", it.GetItemId(), err)
	}
}

// identify delivers an identify event stating user's interests.
func (f *fixture) identify(user string, interests ...any) {
	f.t.Helper()
	f.seq++
	traits, err := structpb.NewStruct(map[string]any{"interests": interests})
	if err != nil {
		f.t.Fatalf("traits: %v", err)
	}
	b, err := proto.Marshal(&eventv1.Event{EventId: fmt.Sprintf("e%d", f.seq), Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, UserId: user, Traits: traits, Timestamp: timestamppb.New(now)})
	if err != nil {
		f.t.Fatalf("marshal: %v", err)
	}
	if err := f.eng.Handle(f.t.Context(), bus.Message{Topic: topics.Events, Key: []byte(user), Value: b}); err != nil {
		f.t.Fatalf("Handle identify: %v", err)
	}
}

// textWorld describes world's items in the catalog: go items about concurrency, art items
// about watercolour, one in Chinese.
func textWorld(f *fixture) {
	for i := 1; i <= 4; i++ {
		f.put(&eventv1.CatalogItem{ItemId: fmt.Sprintf("g%d", i), Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: fmt.Sprintf("Go concurrency %d", i),
			Description: "goroutines and channels", Category: "go", Tags: []string{"go", "concurrency"}})
		f.put(&eventv1.CatalogItem{ItemId: fmt.Sprintf("a%d", i), Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: fmt.Sprintf("Watercolour %d", i),
			Description: "brushes, paper and colour", Category: "art", Tags: []string{"painting"}})
	}
}

func TestContentColdStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{EASE: easeLambda(1)})
	textWorld(f)
	world(f)
	f.train()
	// A new item nobody used: its neighbours come from its text.
	f.put(&eventv1.CatalogItem{ItemId: "g-new", Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: "Concurrency patterns in Go", Category: "go", Tags: []string{"goroutines"}})
	if err := f.eng.RefreshContent(t.Context()); err != nil {
		t.Fatalf("RefreshContent: %v", err)
	}
	sim, err := f.eng.SimilarItems(t.Context(), "g-new", 3)
	if err != nil {
		t.Fatalf("SimilarItems: %v", err)
	}
	if len(sim.GetItems()) != 3 || sim.GetItems()[0].GetReason() != "similar to “Concurrency patterns in Go”" {
		t.Errorf("SimilarItems(new item): got %v, want 3 items similar to its title", sim.GetItems())
	}
	for _, id := range ids(sim) {
		if !strings.HasPrefix(id, "g") || id == "g-new" {
			t.Errorf("SimilarItems(new item): got %v, want other go items", ids(sim))
		}
	}
	// A go learner's refreshed list gives the new item a place, for a content reason.
	f.buy("u00", "g1")
	got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 10})
	var reason string
	for _, it := range got.GetItems() {
		if it.GetItemId() == "g-new" {
			reason = it.GetReason()
		}
	}
	if !strings.HasPrefix(reason, "new, like “Go concurrency") {
		t.Errorf("u00's list: got %v, want g-new for a reason “new, like “Go concurrency …””", got.GetItems())
	}
}

func TestInterestsServeNewUsers(t *testing.T) {
	t.Parallel()
	// A small dictionary: the embedded one takes a minute to load under the race detector.
	f := newFixture(t, Config{Tokenizer: content.NewTokenizerWithDictionary("理财 300 v\n基金 400 n\n股票 400 n\n入门 600 v\n")})
	textWorld(f)
	f.put(&eventv1.CatalogItem{ItemId: "zh1", Type: eventv1.ItemType_ITEM_TYPE_COLUMN, Title: "理财入门", Description: "基金与股票", Category: "finance"})
	world(f)
	f.train()
	tests := []struct {
		user      string
		interests []any
		source    string
		first     string // item id prefix
		reason    string
	}{
		{"painter", []any{"watercolour painting"}, SourceContent, "a", "matches your interest in watercolour painting"},
		{"gopher", []any{"cooking", "channels"}, SourceContent, "g", "matches your interest in channels"},
		{"saver", []any{"理财"}, SourceContent, "zh1", "matches your interest in 理财"},
		{"vague", []any{"knitting"}, SourcePopular, "", ""},
	}
	for _, tc := range tests {
		f.identify(tc.user, tc.interests...)
		got := f.recommend(&recommendationv1.RecommendRequest{UserId: tc.user, N: 3})
		if got.GetSource() != tc.source || len(got.GetItems()) != 3 {
			t.Errorf("%s: got %v from %s, want 3 items from %s", tc.user, ids(got), got.GetSource(), tc.source)
			continue
		}
		if first := got.GetItems()[0]; tc.first != "" && (!strings.HasPrefix(first.GetItemId(), tc.first) || first.GetReason() != tc.reason) {
			t.Errorf("%s: got first %v, want %s… because %q", tc.user, first, tc.first, tc.reason)
		}
	}
}
