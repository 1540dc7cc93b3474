// Package hybrid blends recommenders: each component's scores for a user are scaled to
// [−1, 1] by their largest magnitude, then summed with weights learnt on a validation
// split (a grid search on the simplex maximising nDCG@k). Scaling per user keeps the
// weights meaningful whatever the scale of each model.
//
// [Tune] is the full procedure the offline evaluation runs as its "hybrid" model: it
// carves a validation split out of the training ratings only (never the test set), picks
// the regularisation of item-based and user-based EASE on it, learns the blend of those
// two, item-kNN and popularity on it, then refits everything on the whole training set.
// A Model is safe for concurrent use.
package hybrid

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/stratahq/strata/services/recommendation/metric"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// Scorer is a recommender: it writes the score of every item for a user into dst (len =
// number of items). u is the user's row in the training matrix (−1 for a user not in
// it); items and weights are the user's history.
type Scorer interface {
	Score(u int, items []int32, weights []float64, dst []float64)
}

// ItemModel is a model that scores from the history alone (popularity, item-kNN, EASE).
type ItemModel interface {
	Score(items []int32, weights []float64, dst []float64)
}

// UserModel is a model that scores the users it was fitted on (user-based EASE).
type UserModel interface {
	ScoreUser(u int, dst []float64)
}

// ByHistory adapts an item model to Scorer.
func ByHistory(m ItemModel) Scorer { return byHistory{m} }

// ByUser adapts a user model to Scorer.
func ByUser(m UserModel) Scorer { return byUser{m} }

type byHistory struct{ m ItemModel }

func (b byHistory) Score(_ int, items []int32, weights []float64, dst []float64) {
	b.m.Score(items, weights, dst)
}

type byUser struct{ m UserModel }

func (b byUser) Score(u int, _ []int32, _ []float64, dst []float64) { b.m.ScoreUser(u, dst) }

// ErrNoComponents is returned by New without components or with weights that do not
// match them.
var ErrNoComponents = errors.New("hybrid: need components with one non-negative weight each, not all zero")

// Model is a weighted blend of scorers over one item index.
type Model struct {
	nItems  int
	scorers []Scorer
	weights []float64
	bufs    sync.Pool
}

// New returns the blend of scorers with the given weights, over nItems items.
func New(nItems int, scorers []Scorer, weights []float64) (*Model, error) {
	if len(scorers) == 0 || len(scorers) != len(weights) {
		return nil, ErrNoComponents
	}
	var sum float64
	for _, w := range weights {
		if w < 0 || math.IsNaN(w) {
			return nil, ErrNoComponents
		}
		sum += w
	}
	if sum == 0 {
		return nil, ErrNoComponents
	}
	m := &Model{nItems: nItems, scorers: scorers, weights: weights}
	m.bufs.New = func() any { b := make([]float64, nItems); return &b }
	return m, nil
}

// Weights returns the blend weights, one per component; the caller must not modify them.
func (m *Model) Weights() []float64 { return m.weights }

// Score writes the blended score of every item for user u into dst.
func (m *Model) Score(u int, items []int32, weights []float64, dst []float64) {
	clear(dst)
	buf := m.bufs.Get().(*[]float64)
	defer m.bufs.Put(buf)
	for c, s := range m.scorers {
		if m.weights[c] == 0 {
			continue
		}
		s.Score(u, items, weights, *buf)
		addScaled(dst, *buf, m.weights[c])
	}
}

// addScaled adds w·src/max|src| to dst.
func addScaled(dst, src []float64, w float64) {
	var m float64
	for _, v := range src {
		m = math.Max(m, math.Abs(v))
	}
	if m == 0 {
		return
	}
	f := w / m
	for i, v := range src {
		dst[i] += f * v
	}
}

// Example is one validation user: the user's row, the history the scorers see and the
// held-out items. Held-out items the model cannot know may carry negative indices: they
// count as relevant but can never be recommended.
type Example struct {
	User     int
	Items    []int32
	Weights  []float64
	Relevant metric.Set[int32]
}

// NDCG is the mean nDCG@k of scorer over the examples, seen items excluded.
func NDCG(ctx context.Context, nItems int, scorer Scorer, val []Example, k int) (float64, error) {
	per := make([]float64, len(val))
	err := forEach(ctx, len(val), func(i int, buf []float64) {
		ex := val[i]
		scorer.Score(ex.User, ex.Items, ex.Weights, buf[:nItems])
		per[i] = metric.NDCG(topk.Select(buf[:nItems], k, seenSkip(ex.Items)), ex.Relevant, k)
	}, nItems)
	if err != nil {
		return 0, err
	}
	return mean(per), nil
}

// LearnWeights returns the blend weights, on a simplex grid of the given step (0.1 when
// 0), that maximise the mean nDCG@k over the validation examples, and that nDCG. Ties go
// to the first grid point in lexicographic order of the weights, so the result is
// deterministic. Memory: one float32 per example, component and item.
func LearnWeights(ctx context.Context, nItems int, scorers []Scorer, val []Example, k int, step float64) ([]float64, float64, error) {
	if len(scorers) == 0 {
		return nil, 0, ErrNoComponents
	}
	if step <= 0 || step > 1 {
		step = 0.1
	}
	steps := int(math.Round(1 / step))
	// Per example and component, the scaled scores (float32 to halve the memory).
	scaled := make([][]float32, len(val)*len(scorers))
	err := forEach(ctx, len(val), func(i int, buf []float64) {
		for c, s := range scorers {
			s.Score(val[i].User, val[i].Items, val[i].Weights, buf[:nItems])
			var m float64
			for _, v := range buf[:nItems] {
				m = math.Max(m, math.Abs(v))
			}
			if m == 0 {
				m = 1
			}
			out := make([]float32, nItems)
			for j, v := range buf[:nItems] {
				out[j] = float32(v / m)
			}
			scaled[i*len(scorers)+c] = out
		}
	}, nItems)
	if err != nil {
		return nil, 0, err
	}
	best, bestW := -1.0, []float64(nil)
	for _, grid := range simplex(len(scorers), steps) {
		w := make([]float64, len(grid))
		for c, g := range grid {
			w[c] = float64(g) / float64(steps)
		}
		per := make([]float64, len(val))
		err := forEach(ctx, len(val), func(i int, buf []float64) {
			sc := buf[:nItems]
			clear(sc)
			for c, wc := range w {
				if wc == 0 {
					continue
				}
				for j, v := range scaled[i*len(scorers)+c] {
					sc[j] += wc * float64(v)
				}
			}
			per[i] = metric.NDCG(topk.Select(sc, k, seenSkip(val[i].Items)), val[i].Relevant, k)
		}, nItems)
		if err != nil {
			return nil, 0, err
		}
		if v := mean(per); v > best {
			best, bestW = v, w
		}
	}
	return bestW, best, nil
}

// simplex returns every vector of n non-negative integers summing to steps, in
// lexicographic order, except those that put all the weight on nothing.
func simplex(n, steps int) [][]int {
	var out [][]int
	var rec func(prefix []int, left int)
	rec = func(prefix []int, left int) {
		if len(prefix) == n-1 {
			out = append(out, append(append([]int(nil), prefix...), left))
			return
		}
		for v := 0; v <= left; v++ {
			rec(append(prefix, v), left-v)
		}
	}
	rec(nil, steps)
	return out
}

func seenSkip(items []int32) func(int32) bool {
	seen := make(map[int32]struct{}, len(items))
	for _, i := range items {
		seen[i] = struct{}{}
	}
	return func(j int32) bool { _, ok := seen[j]; return ok }
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// forEach calls f(i, buf) for i in [0, n) on all CPUs, each worker with its own buffer of
// bufLen floats, and returns ctx's error if it was cancelled.
func forEach(ctx context.Context, n int, f func(i int, buf []float64), bufLen int) error {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			buf := make([]float64, bufLen)
			for i := w; i < n; i += workers {
				if ctx.Err() != nil {
					return
				}
				f(i, buf)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hybrid: %w", err)
	}
	return nil
}
