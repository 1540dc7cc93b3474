package engine

import (
	"errors"
	"slices"
	"testing"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/store"
)

func feedback(user, item string, a recommendationv1.FeedbackAction) *recommendationv1.FeedbackRequest {
	return &recommendationv1.FeedbackRequest{UserId: user, ItemId: item, Action: a}
}

func TestDismissRemovesItemFromNextList(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{EASE: easeLambda(1)})
	world(f)
	f.train()
	before := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 10})
	if len(before.GetItems()) == 0 || ids(before)[0] != "g1" {
		t.Fatalf("before: got %v, want g1 first", ids(before))
	}
	recorded, err := f.eng.Feedback(t.Context(), feedback("u00", "g1", recommendationv1.FeedbackAction_FEEDBACK_ACTION_DISMISS))
	if err != nil || !recorded {
		t.Fatalf("Feedback(dismiss): got %v, %v; want recorded", recorded, err)
	}
	after := f.recommend(&recommendationv1.RecommendRequest{UserId: "u00", N: 10})
	if after.GetSource() != SourceCache || slices.Contains(ids(after), "g1") {
		t.Errorf("after dismissing g1: got %v from %s, want a refreshed cached list without g1", ids(after), after.GetSource())
	}
	// A retry is recorded once.
	if recorded, err := f.eng.Feedback(t.Context(), feedback("u00", "g1", recommendationv1.FeedbackAction_FEEDBACK_ACTION_DISMISS)); err != nil || recorded {
		t.Errorf("Feedback(dismiss) retried: got %v, %v; want not recorded again", recorded, err)
	}
	// A like undoes the dismissal.
	if _, err := f.eng.Feedback(t.Context(), feedback("u00", "g1", recommendationv1.FeedbackAction_FEEDBACK_ACTION_LIKE)); err != nil {
		t.Fatalf("Feedback(like): %v", err)
	}
	hist, err := f.eng.store.History(t.Context(), "u00")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	i := slices.IndexFunc(hist, func(e store.Entry) bool { return e.Item == "g1" })
	if i < 0 || hist[i].Negative || hist[i].Weight <= 0 {
		t.Errorf("g1 after a like: got %+v, want a positive, non-negative entry", hist)
	}
}

func TestFeedbackClickIsAPositiveSignal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	if _, err := f.eng.Feedback(t.Context(), feedback("u", "x", recommendationv1.FeedbackAction_FEEDBACK_ACTION_CLICK)); err != nil {
		t.Fatalf("Feedback(click): %v", err)
	}
	if w := f.eng.popular.top().weights; w["x"] != f.eng.cfg.Weights.Click {
		t.Errorf("popularity of x after a click: got %v, want %v", w["x"], f.eng.cfg.Weights.Click)
	}
	if _, err := f.eng.Feedback(t.Context(), feedback("u", "x", recommendationv1.FeedbackAction_FEEDBACK_ACTION_UNSPECIFIED)); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("Feedback(unspecified): got %v, want ErrUnknownAction", err)
	}
}
