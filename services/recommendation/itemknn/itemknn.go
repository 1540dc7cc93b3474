// Package itemknn is item-to-item collaborative filtering: the cosine similarity of items'
// user vectors (with optional shrinkage towards zero for items seen by few users), each
// item keeping its most similar neighbours. A user's score for item j sums the weights of
// the user's items among j's neighbours times their similarity.
//
// Fit computes co-occurrences item by item from the sparse matrix (work proportional to
// the sum over users of their history length squared, memory proportional to items ×
// neighbours) on all CPUs. A Model is immutable and safe for concurrent use.
package itemknn

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// Config tunes the model.
type Config struct {
	// Neighbours is how many similar items each item keeps; 0 keeps every item it
	// co-occurs with (the plain cosine model of the reference figures).
	Neighbours int
	// Shrink is added to the denominator of the cosine: sim = co / (‖i‖‖j‖ + Shrink).
	Shrink float64
}

// Model holds each item's neighbours, in both directions: neighbours of a target item
// (for SimilarItems) and, transposed, the targets an item contributes to (for scoring).
type Model struct {
	nItems int
	// fwd: for target j, the items most similar to it.
	fwdPtr []int
	fwdIdx []int32
	fwdSim []float32
	// inv: for item i, the targets j whose neighbours include i.
	invPtr []int
	invIdx []int32
	invSim []float32
}

type neighbour struct {
	item int32
	sim  float32
}

// Fit computes the neighbours of every item of m.
func Fit(ctx context.Context, m *interactions.Matrix, cfg Config) (*Model, error) {
	if cfg.Neighbours < 0 || cfg.Shrink < 0 {
		return nil, fmt.Errorf("itemknn: neighbours %d and shrink %v must not be negative", cfg.Neighbours, cfg.Shrink)
	}
	nItems := m.NumItems()
	iPtr, iUsers, iW := m.ItemUsers()
	norms := make([]float64, nItems)
	for j := range nItems {
		var s float64
		for _, w := range iW[iPtr[j]:iPtr[j+1]] {
			s += w * w
		}
		norms[j] = math.Sqrt(s)
	}
	rows := make([][]neighbour, nItems)
	workers := runtime.GOMAXPROCS(0)
	next := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			acc := make([]float64, nItems)
			var touched []int32
			for j := range next {
				touched = touched[:0]
				for k := iPtr[j]; k < iPtr[j+1]; k++ {
					u, wu := iUsers[k], iW[k]
					items, ws := m.Row(int(u))
					for t, i := range items {
						if int(i) == j {
							continue
						}
						if acc[i] == 0 {
							touched = append(touched, i)
						}
						acc[i] += wu * ws[t]
					}
				}
				row := make([]neighbour, 0, len(touched))
				for _, i := range touched {
					s := acc[i] / (norms[i]*norms[j] + cfg.Shrink)
					acc[i] = 0
					if s > 0 {
						row = append(row, neighbour{i, float32(s)})
					}
				}
				slices.SortFunc(row, func(a, b neighbour) int {
					return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(a.item, b.item))
				})
				if cfg.Neighbours > 0 && len(row) > cfg.Neighbours {
					row = slices.Clip(row[:cfg.Neighbours])
				}
				rows[j] = row
			}
		})
	}
	var err error
	for j := range nItems {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("itemknn: fit: %w", err)
	}
	return build(nItems, rows), nil
}

func build(nItems int, rows [][]neighbour) *Model {
	md := &Model{nItems: nItems, fwdPtr: make([]int, nItems+1), invPtr: make([]int, nItems+1)}
	total := 0
	for j, row := range rows {
		total += len(row)
		md.fwdPtr[j+1] = total
		for _, nb := range row {
			md.invPtr[nb.item+1]++
		}
	}
	md.fwdIdx, md.fwdSim = make([]int32, total), make([]float32, total)
	md.invIdx, md.invSim = make([]int32, total), make([]float32, total)
	for i := range nItems {
		md.invPtr[i+1] += md.invPtr[i]
	}
	fill := slices.Clone(md.invPtr[:nItems])
	for j, row := range rows {
		for k, nb := range row {
			md.fwdIdx[md.fwdPtr[j]+k], md.fwdSim[md.fwdPtr[j]+k] = nb.item, nb.sim
			p := fill[nb.item]
			md.invIdx[p], md.invSim[p] = int32(j), nb.sim
			fill[nb.item]++
		}
	}
	return md
}

// NumItems is the number of items the model knows.
func (md *Model) NumItems() int { return md.nItems }

// Score writes into dst (len = number of items) the score of every item for a user with
// the given history: dst[j] = Σ weights[i]·sim(items[i], j) over j's neighbours.
func (md *Model) Score(items []int32, weights []float64, dst []float64) {
	clear(dst)
	for k, i := range items {
		if int(i) >= md.nItems {
			continue
		}
		w := weights[k]
		for p := md.invPtr[i]; p < md.invPtr[i+1]; p++ {
			dst[md.invIdx[p]] += w * float64(md.invSim[p])
		}
	}
}

// Similar returns the neighbours of item j, most similar first, and their similarities.
// The caller must not modify the slices.
func (md *Model) Similar(j int32) ([]int32, []float32) {
	if int(j) >= md.nItems || j < 0 {
		return nil, nil
	}
	lo, hi := md.fwdPtr[j], md.fwdPtr[j+1]
	return md.fwdIdx[lo:hi], md.fwdSim[lo:hi]
}
