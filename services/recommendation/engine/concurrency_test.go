package engine

import (
	"fmt"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// TestConcurrentEventsTrainingAndRequests applies events, trains and serves every kind
// of request at once. It guards against the concurrent map read and write once reported
// in popularCands (the popularity ranking was shared with the writer); run it under
// -race.
func TestConcurrentEventsTrainingAndRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	world(f)
	f.train()
	ctx := t.Context()
	msg := func(w, i int) bus.Message {
		p, err := structpb.NewStruct(map[string]any{"product_id": fmt.Sprintf("n%d", i%7), "category": "go"})
		if err != nil {
			t.Fatalf("properties: %v", err)
		}
		b, err := proto.Marshal(&eventv1.Event{
			EventId: fmt.Sprintf("c%d-%d", w, i), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Product Viewed",
			Timestamp: timestamppb.New(now), Properties: p,
		})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return bus.Message{Topic: topics.Events, Key: []byte(fmt.Sprintf("cu%d", i%5)), Value: b}
	}
	const rounds = 150
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 2 {
		wg.Go(func() {
			for i := range rounds {
				if err := f.eng.Handle(ctx, msg(w, i)); err != nil {
					errs <- fmt.Errorf("Handle: %w", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		if _, err := f.eng.Train(ctx); err != nil {
			errs <- fmt.Errorf("Train: %w", err)
		}
	})
	reqs := []*recommendationv1.RecommendRequest{
		{UserId: "u00", N: 5},
		{UserId: "stranger", N: 5, Filters: &recommendationv1.Filters{Categories: []string{"go"}}},
		{UserId: "u01", Scene: recommendationv1.Scene_SCENE_ITEM_DETAIL, ItemId: "n3", N: 5},
		{UserId: "u02", Scene: recommendationv1.Scene_SCENE_POST_PURCHASE, N: 5},
		{UserId: "cu1", Scene: recommendationv1.Scene_SCENE_EMAIL, N: 5},
	}
	for _, req := range reqs {
		wg.Go(func() {
			for range rounds {
				resp, err := f.eng.Recommend(ctx, req)
				if err != nil {
					errs <- fmt.Errorf("Recommend %v: %w", req, err)
					return
				}
				if len(resp.GetItems()) == 0 {
					errs <- fmt.Errorf("Recommend %v: got no items", req)
					return
				}
				if p := f.eng.Popular(ctx, "", 3); len(p.GetItems()) == 0 {
					errs <- fmt.Errorf("Popular: got no items")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
