package engine

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

func (f *fixture) erase(r *privacyv1.PrivacyRequest) error {
	f.t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		f.t.Fatalf("marshal: %v", err)
	}
	return f.eng.Handle(f.t.Context(), bus.Message{Topic: topics.Privacy, Key: []byte(r.GetUserId()), Value: b})
}

func TestErasureForgetsTheUser(t *testing.T) {
	t.Parallel()
	receipts := &bustest.Recorder{}
	f := newFixture(t, Config{EASE: easeLambda(1), Receipts: receipts})
	world(f)
	f.track("u00", "Signed Up", map[string]any{"interests": []any{"go"}})
	f.train()
	if got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 3}); got.GetSource() != SourceCache {
		t.Fatalf("before erasure: got source %s, want cache", got.GetSource())
	}
	req := &privacyv1.PrivacyRequest{RequestId: "r1", UserId: "u00", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}
	for i := range 2 { // a replayed request is harmless
		if err := f.erase(req); err != nil {
			t.Fatalf("erasure #%d: %v", i+1, err)
		}
	}
	for _, k := range f.mr.Keys() {
		if containsUser(k, "u00") {
			t.Errorf("key %s survived the erasure", k)
		}
	}
	if active, _ := f.mr.SortedSet("strata:rec:active"); active["u00"] != 0 {
		t.Errorf("u00 is still among the active users")
	}
	// One receipt per delivery, under one key: the keys deleted, then none.
	var items []int64
	for _, m := range receipts.Messages() {
		rc := &privacyv1.ErasureReceipt{}
		if err := proto.Unmarshal(m.Value, rc); err != nil {
			t.Fatalf("receipt: %v", err)
		}
		if m.Topic != topics.PrivacyReceipts || string(m.Key) != "r1/recommendation" || rc.GetService() != ReceiptService || rc.GetUserId() != "u00" || rc.GetCompletedAt() == nil {
			t.Errorf("receipt %s %s: %v, want r1/recommendation on %s", m.Topic, m.Key, rc, topics.PrivacyReceipts)
		}
		items = append(items, rc.GetItems())
	}
	if len(items) != 2 || items[0] == 0 || items[1] != 0 {
		t.Errorf("receipt items: got %v, want the keys deleted then 0", items)
	}
	got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 3})
	if got.GetSource() != SourcePopular {
		t.Errorf("after erasure: got %v from %s, want the popular fallback", ids(got), got.GetSource())
	}
	if run := f.train(); run.GetUsers() != 11 {
		t.Errorf("training after erasure: got %d users, want 11 (u00 left out)", run.GetUsers())
	}
	// Other users keep their state.
	if got := f.recommend(&recommendationv1.RecommendRequest{UserId: "u01", N: 3}); got.GetSource() != SourceCache {
		t.Errorf("u01 after u00's erasure: got source %s, want cache", got.GetSource())
	}
}

func TestErasureRejectsIncompleteRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	tests := []struct {
		name          string
		req           *privacyv1.PrivacyRequest
		wantPermanent bool
	}{
		{"no request id", &privacyv1.PrivacyRequest{UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}, true},
		{"other action", &privacyv1.PrivacyRequest{RequestId: "r", UserId: "u1"}, false},
	}
	for _, tt := range tests {
		err := f.erase(tt.req)
		if bus.IsPermanent(err) != tt.wantPermanent || (!tt.wantPermanent && err != nil) {
			t.Errorf("%s: got %v, want permanent %v", tt.name, err, tt.wantPermanent)
		}
	}
}

func containsUser(key, user string) bool {
	return strings.Contains(key, "{"+user+"}")
}
