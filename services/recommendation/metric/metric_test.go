package metric

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The expected values are computed by hand: hits at ranks 2 and 4 of five, three relevant
// items (x is never recommended).
//
//	DCG@5  = 1/log2(3) + 1/log2(5)          = 1.0616063116
//	IDCG@5 = 1 + 1/log2(3) + 1/log2(4)      = 2.1309297536
//	AP@5   = (1/2 + 2/4) / min(5, 3)        = 1/3
func TestRankingMetrics(t *testing.T) {
	t.Parallel()
	ranked := []string{"a", "b", "c", "d", "e"}
	rel := SetOf("b", "d", "x")
	tests := []struct {
		name          string
		ranked        []string
		k             int
		p, r, n, ap   float64
		relevantItems Set[string]
	}{
		{"k=5", ranked, 5, 0.4, 2.0 / 3, 1.0616063116 / 2.1309297536, 1.0 / 3, rel},
		{"k=3", ranked, 3, 1.0 / 3, 1.0 / 3, 0.6309297536 / 2.1309297536, 0.5 / 3, rel},
		{"k=1 miss", ranked, 1, 0, 0, 0, 0, rel},
		{"perfect", []string{"b", "d", "x"}, 3, 1, 1, 1, 1, rel},
		{"list shorter than k", []string{"b"}, 10, 0.1, 1.0 / 3, 1 / 2.1309297536, 1.0 / 3, rel},
		{"no relevant items", ranked, 5, 0, 0, 0, 0, Set[string]{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Precision(tt.ranked, tt.relevantItems, tt.k); !near(got, tt.p) {
				t.Errorf("Precision: got %v, want %v", got, tt.p)
			}
			if got := Recall(tt.ranked, tt.relevantItems, tt.k); !near(got, tt.r) {
				t.Errorf("Recall: got %v, want %v", got, tt.r)
			}
			if got := NDCG(tt.ranked, tt.relevantItems, tt.k); !near(got, tt.n) {
				t.Errorf("NDCG: got %v, want %v", got, tt.n)
			}
			if got := AveragePrecision(tt.ranked, tt.relevantItems, tt.k); !near(got, tt.ap) {
				t.Errorf("AveragePrecision: got %v, want %v", got, tt.ap)
			}
		})
	}
}

func TestCoverage(t *testing.T) {
	t.Parallel()
	lists := [][]string{{"a", "b"}, {"b", "c"}}
	if got, want := Coverage(lists, 2, 10), 0.3; !near(got, want) {
		t.Errorf("k=2: got %v, want %v", got, want)
	}
	if got, want := Coverage(lists, 1, 10), 0.2; !near(got, want) {
		t.Errorf("k=1: got %v, want %v", got, want)
	}
	if got := Coverage(lists, 2, 0); got != 0 {
		t.Errorf("empty catalog: got %v, want 0", got)
	}
}

// Novelty of [[a], [b]] with a seen by 5 of 10 users and b by 1: (−log2 0.5 − log2 0.1)/2.
func TestNovelty(t *testing.T) {
	t.Parallel()
	pop := map[string]int{"a": 5, "b": 1}
	got := Novelty([][]string{{"a", "z"}, {"b"}}, 1, func(s string) int { return pop[s] }, 10)
	if want := (1 + math.Log2(10)) / 2; !near(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// An item nobody was seen with counts as seen by one user.
	if got, want := Novelty([][]string{{"z"}}, 1, func(string) int { return 0 }, 8), 3.0; !near(got, want) {
		t.Errorf("unseen item: got %v, want %v", got, want)
	}
}
