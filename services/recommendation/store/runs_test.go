package store

import (
	"slices"
	"testing"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

func TestRunsNewestFirstTrimmedAndLimited(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Limits{})
	ctx := t.Context()
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		if err := s.AddRun(ctx, &recommendationv1.TrainingRun{Id: id, NdcgAt_10: 0.5}, 3); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{limit: 0, want: nil},
		{limit: 2, want: []string{"r4", "r3"}},
		{limit: 10, want: []string{"r4", "r3", "r2"}},
	}
	for _, tt := range tests {
		runs, err := s.Runs(ctx, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, r.GetId())
			if r.GetNdcgAt_10() != 0.5 {
				t.Errorf("run %s ndcg: got %v, want 0.5", r.GetId(), r.GetNdcgAt_10())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("limit %d: got %v, want %v", tt.limit, got, tt.want)
		}
	}
}
