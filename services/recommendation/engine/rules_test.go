package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// diversifyReference is maximal marginal relevance by the definition: every step scans
// every candidate.
func diversifyReference(cands []candidate, n int, lambda float64, cat *catalog) []candidate {
	lo, hi := cands[0].score, cands[0].score
	for _, c := range cands {
		lo, hi = min(lo, c.score), max(hi, c.score)
	}
	rel := func(s float64) float64 {
		if hi == lo {
			return 1
		}
		return (s - lo) / (hi - lo)
	}
	var picked []candidate
	used := make([]bool, len(cands))
	seen := map[string]bool{}
	for len(picked) < n {
		best, bestV := -1, 0.0
		for i, c := range cands {
			if used[i] {
				continue
			}
			m, _ := cat.get(c.item)
			red := 0.0
			if m.category != "" && seen[m.category] {
				red = 1
			}
			if v := lambda*rel(c.score) - (1-lambda)*red; best < 0 || v > bestV {
				best, bestV = i, v
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		m, _ := cat.get(cands[best].item)
		seen[m.category] = true
		picked = append(picked, cands[best])
	}
	return picked
}

func TestDiversifyMatchesTheDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		cat := newCatalog()
		nCats := 1 + rng.IntN(6)
		cands := make([]candidate, 1+rng.IntN(60))
		for i := range cands {
			id := fmt.Sprintf("i%d", i)
			if k := rng.IntN(nCats + 1); k < nCats { // some items have no category
				cat.items[id] = meta{category: fmt.Sprintf("c%d", k)}
			}
			cands[i] = candidate{item: id, score: float64(rng.IntN(20))} // ties on purpose
		}
		sortCandidates(cands)
		n := 1 + rng.IntN(15)
		lambda := []float64{0.3, 0.5, 0.7, 0.9, 1}[rng.IntN(5)]
		got, want := diversify(cands, n, lambda, cat), diversifyReference(cands, n, lambda, cat)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d (n=%d λ=%v): got %v, want %v", trial, n, lambda, got, want)
		}
	}
}
