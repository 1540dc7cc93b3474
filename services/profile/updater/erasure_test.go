package updater_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/updater"
)

func eraseRequest(user string) *privacyv1.PrivacyRequest {
	return &privacyv1.PrivacyRequest{RequestId: "r-" + user, UserId: user, Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}
}

// receipts returns the erasure receipts published since *seen.
func (f *fixture) receipts(seen *int) []*privacyv1.ErasureReceipt {
	var out []*privacyv1.ErasureReceipt
	msgs := f.pub.Messages()
	for _, m := range msgs[*seen:] {
		if m.Topic != topics.PrivacyReceipts {
			continue
		}
		r := &privacyv1.ErasureReceipt{}
		if err := proto.Unmarshal(m.Value, r); err != nil || string(m.Key) != r.GetRequestId()+"/"+updater.ReceiptService {
			f.t.Errorf("receipt keyed %q: got %v (%v), want a receipt keyed request id/%s", m.Key, r, err, updater.ReceiptService)
		}
		out = append(out, r)
	}
	*seen = len(msgs)
	return out
}

// tombstones counts the changelog tombstones published for user since *seen.
func (f *fixture) tombstones(user string, seen *int) int {
	n := 0
	msgs := f.pub.Messages()
	for _, m := range msgs[*seen:] {
		if m.Topic == topics.Profiles && string(m.Key) == user && m.Value == nil {
			n++
		}
	}
	*seen = len(msgs)
	return n
}

func TestErasureDeletesProfileAndSegments(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"buyers": `p.aggregates.lifetime.orders > 0`})
	ctx := context.Background()
	f.send("u1", state.EventOrderCompleted, map[string]any{"revenue": 99})
	f.send("u2", state.EventOrderCompleted, map[string]any{"revenue": 10})
	segSeen, tombSeen, receiptSeen := 0, 0, 0
	f.segmentEvents(&segSeen)
	f.tombstones("u1", &tombSeen)
	f.receipts(&receiptSeen)

	for i, want := range [][]string{{"EXIT:buyers"}, nil} { // the replay changes nothing more
		f.offset++
		f.handle("u1", topics.Privacy, eraseRequest("u1"))
		// The profile and one segment, then nothing left.
		wantItems := int64(2 * (1 - i))
		if got := f.receipts(&receiptSeen); len(got) != 1 || got[0].GetRequestId() != "r-u1" || got[0].GetUserId() != "u1" ||
			got[0].GetService() != updater.ReceiptService || got[0].GetItems() != wantItems || got[0].GetCompletedAt() == nil {
			t.Errorf("erasure #%d: receipts got %v, want one of r-u1 for u1 with %d items", i+1, got, wantItems)
		}
		if got := f.segmentEvents(&segSeen); !slices.Equal(got, want) {
			t.Errorf("erasure #%d: segment events got %v, want %v", i+1, got, want)
		}
		if got := f.tombstones("u1", &tombSeen); got != 1 {
			t.Errorf("erasure #%d: tombstones for u1 got %d, want 1", i+1, got)
		}
		if _, err := f.store.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("erasure #%d: Get(u1) got %v, want ErrNotFound", i+1, err)
		}
		if in, err := f.store.Memberships(ctx, "u1"); err != nil || len(in) != 0 {
			t.Errorf("erasure #%d: memberships of u1 got %v (%v), want none", i+1, in, err)
		}
		if ids, _, _, _ := f.store.Members(ctx, "buyers", "", 10); !slices.Equal(ids, []string{"u2"}) {
			t.Errorf("erasure #%d: members of buyers got %v, want [u2]", i+1, ids)
		}
	}
	// Later events start a fresh profile.
	f.send("u1", state.EventItemFavorited, nil)
	p, err := f.store.Get(ctx, "u1")
	if err != nil || p.GetVersion() != 1 || p.GetAggregates().GetLifetime().GetOrders() != 0 {
		t.Errorf("after erasure and a new event: got version %d, orders %d (%v); want a fresh profile at version 1",
			p.GetVersion(), p.GetAggregates().GetLifetime().GetOrders(), err)
	}
}

func TestErasureOrderedWithinABatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	encode := func(topic string, offset int64, m proto.Message) bus.Message {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return bus.Message{Topic: topic, Key: []byte("u1"), Value: b, Offset: offset}
	}
	order := f.send("u1", state.EventOrderCompleted, map[string]any{"revenue": 99})
	f.offset++
	later := order
	later.Offset = f.offset + 1
	// An event already applied, the erasure, then an event after it: one batch.
	batch := []bus.Message{order, encode(topics.Privacy, f.offset, eraseRequest("u1")), later}
	if err := f.u.HandleBatch(context.Background(), batch); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	p, err := f.store.Get(context.Background(), "u1")
	if err != nil || p.GetVersion() != 1 {
		t.Errorf("after [event, erasure, event]: got version %d (%v), want a fresh profile holding the last event only", p.GetVersion(), err)
	}
}

func TestErasureRequestsRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name          string
		req           *privacyv1.PrivacyRequest
		wantPermanent bool
	}{
		{"no request id", &privacyv1.PrivacyRequest{UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}, true},
		{"other action skipped", &privacyv1.PrivacyRequest{RequestId: "r", UserId: "u1"}, false},
	}
	for _, tt := range tests {
		b, err := proto.Marshal(tt.req)
		if err != nil {
			t.Fatal(err)
		}
		err = f.u.Handle(context.Background(), bus.Message{Topic: topics.Privacy, Key: []byte("u1"), Value: b})
		if bus.IsPermanent(err) != tt.wantPermanent || (!tt.wantPermanent && err != nil) {
			t.Errorf("%s: got %v, want permanent %v", tt.name, err, tt.wantPermanent)
		}
	}
}

func TestPredictionTombstoneCreatesNoProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	msg := bus.Message{Topic: topics.Predictions, Key: []byte("erased"), Offset: 1}
	if err := f.u.Handle(context.Background(), msg); err != nil {
		t.Fatalf("Handle(prediction tombstone): %v", err)
	}
	if _, err := f.store.Get(context.Background(), "erased"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a prediction tombstone: Get got %v, want ErrNotFound", err)
	}
}

func TestPredictionAfterErasureCreatesNoProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	f.send("u1", state.EventOrderCompleted, map[string]any{"revenue": 99})
	f.offset++
	f.handle("u1", topics.Privacy, eraseRequest("u1"))
	// A prediction scored before the erasure, consumed after it.
	f.offset++
	f.handle("u1", topics.Predictions, &predictionv1.Prediction{UserId: "u1", ChurnRisk: 0.8})
	if _, err := f.store.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a stale prediction: Get got %v, want ErrNotFound", err)
	}
	// A new event starts a fresh profile, and predictions apply to it again.
	f.send("u1", state.EventItemFavorited, nil)
	f.offset++
	f.handle("u1", topics.Predictions, &predictionv1.Prediction{UserId: "u1", ChurnRisk: 0.8})
	p, err := f.store.Get(ctx, "u1")
	if err != nil || p.GetPredictions().GetChurnRisk() != 0.8 || p.GetAggregates().GetLifetime().GetOrders() != 0 {
		t.Errorf("fresh profile: got %v (%v), want no orders and the new prediction applied", p, err)
	}
	// Another user's first prediction, before any event, still applies: only erased users are guarded.
	f.offset++
	f.handle("u2", topics.Predictions, &predictionv1.Prediction{UserId: "u2", ChurnRisk: 0.3})
	if _, err := f.store.Get(ctx, "u2"); err != nil {
		t.Errorf("prediction for a never-erased user: Get got %v, want a profile", err)
	}
}
