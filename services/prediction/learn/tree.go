package learn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Errors returned by Fit.
var (
	// ErrNoData is returned when there are no examples.
	ErrNoData = errors.New("learn: no training examples")
	// ErrShape is returned when X and y disagree or rows differ in length.
	ErrShape = errors.New("learn: inconsistent training data shape")
	// ErrOneClass is returned when all labels are equal.
	ErrOneClass = errors.New("learn: training labels have a single class")
)

// Classifier scores a feature vector with the probability of the positive class.
type Classifier interface {
	Predict(x []float64) float64
}

func checkData(X [][]float64, y []float64) error {
	if len(X) == 0 {
		return ErrNoData
	}
	if len(X) != len(y) {
		return fmt.Errorf("%w: %d rows, %d labels", ErrShape, len(X), len(y))
	}
	d := len(X[0])
	var pos int
	for i, row := range X {
		if len(row) != d {
			return fmt.Errorf("%w: row %d has %d features, want %d", ErrShape, i, len(row), d)
		}
		if y[i] != 0 && y[i] != 1 {
			return fmt.Errorf("%w: label %d is %v, want 0 or 1", ErrShape, i, y[i])
		}
		if y[i] == 1 {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		return ErrOneClass
	}
	return nil
}

// Node is one node of a tree. A leaf has Left < 0.
type Node struct {
	// Feature and Threshold route a vector: x[Feature] <= Threshold goes Left.
	Feature   int
	Threshold float64
	Left      int32
	Right     int32
	// Value is the leaf output (unused on inner nodes).
	Value float64
	// Cover is the number of training examples that reached the node.
	Cover float64
}

// Tree is a binary decision tree; Nodes[0] is the root.
type Tree struct {
	Nodes []Node
}

// Predict returns the value of the leaf x falls in.
func (t *Tree) Predict(x []float64) float64 {
	return t.Nodes[t.leaf(x)].Value
}

func (t *Tree) leaf(x []float64) int {
	i := 0
	for {
		n := &t.Nodes[i]
		if n.Left < 0 {
			return i
		}
		if x[n.Feature] <= n.Threshold {
			i = int(n.Left)
		} else {
			i = int(n.Right)
		}
	}
}

// Depth returns the number of edges on the longest root-to-leaf path.
func (t *Tree) Depth() int {
	var walk func(i, d int) int
	walk = func(i, d int) int {
		n := t.Nodes[i]
		if n.Left < 0 {
			return d
		}
		return max(walk(int(n.Left), d+1), walk(int(n.Right), d+1))
	}
	return walk(0, 0)
}

// ExpectedValue is the cover-weighted mean of the leaves: the tree's mean output over
// its training data, the base value of its explanations.
func (t *Tree) ExpectedValue() float64 {
	var sum float64
	for _, n := range t.Nodes {
		if n.Left < 0 {
			sum += n.Cover * n.Value
		}
	}
	return sum / t.Nodes[0].Cover
}

const maxBins = 128

// binned holds the training matrix as bin indexes, column by column.
type binned struct {
	cols [][]uint8   // cols[f][i]
	cuts [][]float64 // cuts[f][b]: bin b holds values <= cuts[f][b] (and above the previous cut)
}

// binData quantises every feature into at most maxBins bins, cut halfway between
// distinct values so that unseen values fall on the nearer side.
func binData(X [][]float64) *binned {
	n, d := len(X), len(X[0])
	b := &binned{cols: make([][]uint8, d), cuts: make([][]float64, d)}
	vals := make([]float64, n)
	for f := range d {
		for i := range n {
			vals[i] = X[i][f]
		}
		slices.Sort(vals)
		distinct := slices.Compact(slices.Clone(vals))
		var cuts []float64
		if len(distinct) <= maxBins {
			for i := 0; i+1 < len(distinct); i++ {
				cuts = append(cuts, (distinct[i]+distinct[i+1])/2)
			}
		} else {
			for q := 1; q < maxBins; q++ {
				v := vals[q*n/maxBins]
				// the next distinct value above v, to cut between them
				j := sort.SearchFloat64s(distinct, v)
				if j+1 < len(distinct) {
					c := (distinct[j] + distinct[j+1]) / 2
					if len(cuts) == 0 || c > cuts[len(cuts)-1] {
						cuts = append(cuts, c)
					}
				}
			}
		}
		b.cuts[f] = cuts
		col := make([]uint8, n)
		for i := range n {
			col[i] = uint8(sort.SearchFloat64s(cuts, X[i][f]))
		}
		b.cols[f] = col
	}
	return b
}

// treeParams controls one tree's growth.
type treeParams struct {
	maxDepth    int     // 0: unlimited
	minLeaf     int     // fewest examples per leaf
	minHessian  float64 // smallest hessian sum per leaf
	lambda      float64 // L2 penalty on leaf values
	minGain     float64 // smallest gain that splits
	featureFrac float64 // fraction of features tried per split (1: all)
	shrink      float64 // multiplies leaf values (learning rate); 0 means 1
	monotone    []int8  // per feature: +1 output non-decreasing in it, -1 non-increasing, 0 free
}

type builder struct {
	data  *binned
	g, h  []float64
	p     treeParams
	rng   *rand.Rand
	nodes []Node
	// scratch histograms
	hg, hh []float64
	hn     []int
	feats  []int
}

// growTree fits a tree to gradients g and hessians h over the examples idx (which may
// repeat, for bootstrap samples); leaf values are -G/(H+λ).
func growTree(data *binned, idx []int, g, h []float64, p treeParams, rng *rand.Rand) Tree {
	b := &builder{
		data: data, g: g, h: h, p: p, rng: rng,
		hg: make([]float64, maxBins+1), hh: make([]float64, maxBins+1), hn: make([]int, maxBins+1),
		feats: make([]int, len(data.cols)),
	}
	for i := range b.feats {
		b.feats[i] = i
	}
	b.grow(slices.Clone(idx), 0, math.Inf(-1), math.Inf(1))
	return Tree{Nodes: b.nodes}
}

func (b *builder) monotone(f int) int8 {
	if f < len(b.p.monotone) {
		return b.p.monotone[f]
	}
	return 0
}

func (b *builder) leafValue(G, H float64) float64 {
	v := -G / (H + b.p.lambda)
	if b.p.shrink > 0 {
		v *= b.p.shrink
	}
	return v
}

// grow appends the subtree for idx, with leaf values bounded to [lo, hi] by monotone
// constraints above it, and returns its node index.
func (b *builder) grow(idx []int, depth int, lo, hi float64) int32 {
	var G, H float64
	for _, i := range idx {
		G += b.g[i]
		H += b.h[i]
	}
	self := int32(len(b.nodes))
	value := min(max(b.leafValue(G, H), lo), hi)
	b.nodes = append(b.nodes, Node{Left: -1, Right: -1, Value: value, Cover: float64(len(idx))})
	if (b.p.maxDepth > 0 && depth >= b.p.maxDepth) || len(idx) < 2*max(b.p.minLeaf, 1) {
		return self
	}
	parentScore := G * G / (H + b.p.lambda)
	bestGain, bestF, bestBin := b.p.minGain, -1, 0
	var bestMid float64

	feats := b.feats
	if b.p.featureFrac > 0 && b.p.featureFrac < 1 {
		k := max(1, int(math.Round(b.p.featureFrac*float64(len(feats)))))
		for i := range k { // partial Fisher-Yates
			j := i + b.rng.IntN(len(feats)-i)
			feats[i], feats[j] = feats[j], feats[i]
		}
		feats = feats[:k]
	}
	for _, f := range feats {
		nb := len(b.data.cuts[f]) + 1
		if nb < 2 {
			continue
		}
		hg, hh, hn := b.hg[:nb], b.hh[:nb], b.hn[:nb]
		clear(hg)
		clear(hh)
		clear(hn)
		col := b.data.cols[f]
		for _, i := range idx {
			bin := col[i]
			hg[bin] += b.g[i]
			hh[bin] += b.h[i]
			hn[bin]++
		}
		var gl, hl float64
		var nl int
		for bin := 0; bin < nb-1; bin++ {
			gl += hg[bin]
			hl += hh[bin]
			nl += hn[bin]
			nr := len(idx) - nl
			if nl < b.p.minLeaf || nl == 0 {
				continue
			}
			if nr < b.p.minLeaf || nr == 0 {
				break
			}
			gr, hr := G-gl, H-hl
			if hl < b.p.minHessian || hr < b.p.minHessian {
				continue
			}
			gain := gl*gl/(hl+b.p.lambda) + gr*gr/(hr+b.p.lambda) - parentScore
			if gain <= bestGain {
				continue
			}
			var mid float64
			if mono := b.monotone(f); mono != 0 {
				wl := min(max(b.leafValue(gl, hl), lo), hi)
				wr := min(max(b.leafValue(gr, hr), lo), hi)
				if (mono > 0 && wl > wr) || (mono < 0 && wl < wr) {
					continue
				}
				mid = (wl + wr) / 2
			}
			bestGain, bestF, bestBin, bestMid = gain, f, bin, mid
		}
	}
	if bestF < 0 {
		return self
	}
	// Partition idx in place: bins <= bestBin first.
	col := b.data.cols[bestF]
	cut, end := 0, len(idx)-1
	for cut <= end {
		if int(col[idx[cut]]) <= bestBin {
			cut++
		} else {
			idx[cut], idx[end] = idx[end], idx[cut]
			end--
		}
	}
	b.nodes[self].Feature = bestF
	b.nodes[self].Threshold = b.data.cuts[bestF][bestBin]
	llo, lhi, rlo, rhi := lo, hi, lo, hi
	switch b.monotone(bestF) {
	case 1:
		lhi, rlo = bestMid, bestMid
	case -1:
		llo, rhi = bestMid, bestMid
	}
	left := b.grow(idx[:cut], depth+1, llo, lhi)
	right := b.grow(idx[cut:], depth+1, rlo, rhi)
	b.nodes[self].Left, b.nodes[self].Right = left, right
	return self
}
