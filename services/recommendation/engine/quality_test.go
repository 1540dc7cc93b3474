package engine

import (
	"fmt"
	"testing"
)

// plantedTastes gives the engine six taste groups of ten items each: every user views
// the three hits everyone views, then five consecutive items of their group, the last of
// which the run holds out. Popularity can only offer the groups' items by their counts,
// while a collaborative model knows which group the user is in.
func plantedTastes(f *fixture) {
	for u := range 60 {
		user, g, k := fmt.Sprintf("u%02d", u), u%6, u/6
		for _, hit := range []string{"hit1", "hit2", "hit3"} {
			f.track(user, "Product Viewed", map[string]any{"product_id": hit})
		}
		for j := range 5 {
			f.track(user, "Product Viewed", map[string]any{"product_id": fmt.Sprintf("g%d-%d", g, (k+j)%10)})
		}
	}
}

func TestTrainingRunRecordsQualityAboveBaseline(t *testing.T) {
	t.Parallel()
	for _, model := range []string{ModelEASE, ModelItemKNN} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{Variants: []Variant{{Name: model, Model: model, Share: 100}}})
			plantedTastes(f)
			run := f.train()
			t.Logf("ndcg@10 %.3f (popularity %.3f) precision@10 %.3f (%.3f) recall@10 %.3f (%.3f) coverage %.3f (%.3f)",
				run.GetNdcgAt_10(), run.GetPopularityNdcgAt_10(), run.GetPrecisionAt_10(), run.GetPopularityPrecisionAt_10(),
				run.GetRecallAt_10(), run.GetPopularityRecallAt_10(), run.GetCoverage(), run.GetPopularityCoverage())
			if got, want := run.GetHoldoutUsers(), int64(60); got != want {
				t.Errorf("holdout users: got %d, want %d", got, want)
			}
			if got := run.GetModel(); got != model {
				t.Errorf("model: got %q, want %q", got, model)
			}
			if got, want := run.GetItems(), int64(63); got != want {
				t.Errorf("items: got %d, want %d", got, want)
			}
			if run.GetDurationSeconds() < 0 || run.GetFinishedAt().AsTime().Before(run.GetStartedAt().AsTime()) {
				t.Errorf("times: started %v finished %v duration %v", run.GetStartedAt().AsTime(), run.GetFinishedAt().AsTime(), run.GetDurationSeconds())
			}
			for _, m := range []struct {
				name      string
				got, base float64
			}{
				{"ndcg@10", run.GetNdcgAt_10(), run.GetPopularityNdcgAt_10()},
				{"precision@10", run.GetPrecisionAt_10(), run.GetPopularityPrecisionAt_10()},
				{"recall@10", run.GetRecallAt_10(), run.GetPopularityRecallAt_10()},
				{"coverage", run.GetCoverage(), run.GetPopularityCoverage()},
			} {
				if m.got <= m.base || m.got > 1 {
					t.Errorf("%s: got %v, want above popularity's %v and at most 1", m.name, m.got, m.base)
				}
			}
			// With one held-out item, precision@10 is recall@10 / 10.
			if got, want := run.GetPrecisionAt_10(), run.GetRecallAt_10()/10; got < want-1e-12 || got > want+1e-12 {
				t.Errorf("precision@10: got %v, want %v", got, want)
			}
		})
	}
}

func TestListRunsNewestFirstWithLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	plantedTastes(f)
	first, second := f.train(), f.train()
	tests := []struct {
		limit int
		want  []string
	}{
		{limit: 1, want: []string{second.GetId()}},
		{limit: 10, want: []string{second.GetId(), first.GetId()}},
	}
	for _, tt := range tests {
		runs, err := f.eng.ListRuns(t.Context(), tt.limit)
		if err != nil {
			t.Fatalf("ListRuns: %v", err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, r.GetId())
			if r.GetNdcgAt_10() <= 0 || r.GetFinishedAt() == nil {
				t.Errorf("run %s: got ndcg %v finished %v, want metrics and an end", r.GetId(), r.GetNdcgAt_10(), r.GetFinishedAt())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("limit %d: got %v, want %v", tt.limit, got, tt.want)
		}
	}
}
