// Package popularity recommends what most users interacted with: the baseline every
// personalised model must beat, the fallback when nothing personal is known (a new user,
// Redis down), and, fed time-decayed weights, a trending list.
//
// A Model is immutable once built and safe for concurrent use.
package popularity

import (
	"cmp"
	"slices"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// Model scores every item by its popularity, whoever the user.
type Model struct {
	scores []float64
}

// Fit counts, for every item of m, the users who interacted with it.
func Fit(m *interactions.Matrix) *Model { return &Model{scores: m.ItemCounts()} }

// New returns a model with the given per-item scores (item index → score); the model
// keeps the slice.
func New(scores []float64) *Model { return &Model{scores: scores} }

// Score writes every item's popularity into dst (len = number of items); the history is
// ignored.
func (p *Model) Score(_ []int32, _ []float64, dst []float64) { copy(dst, p.scores) }

// Scores returns the per-item scores; the caller must not modify them.
func (p *Model) Scores() []float64 { return p.scores }

// Top returns up to n item indices in decreasing popularity (ties by index), skipping those
// for which skip returns true (skip may be nil).
func (p *Model) Top(n int, skip func(int32) bool) []int32 {
	idx := make([]int32, 0, len(p.scores))
	for i, s := range p.scores {
		if s > 0 && (skip == nil || !skip(int32(i))) {
			idx = append(idx, int32(i))
		}
	}
	slices.SortFunc(idx, func(a, b int32) int {
		return cmp.Or(cmp.Compare(p.scores[b], p.scores[a]), cmp.Compare(a, b))
	})
	return idx[:min(n, len(idx))]
}
