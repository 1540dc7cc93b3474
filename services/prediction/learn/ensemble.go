package learn

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// ForestConfig configures a random forest; zero fields take the defaults.
type ForestConfig struct {
	// Trees is the number of trees; default 300.
	Trees int
	// MinLeaf is the fewest examples per leaf; default 1.
	MinLeaf int
	// MaxDepth bounds tree depth; 0 is unlimited.
	MaxDepth int
	// FeatureFrac is the fraction of features tried per split; default √d/d.
	FeatureFrac float64
	// Monotone constrains the output per feature: +1 non-decreasing, -1
	// non-increasing, 0 (or absent) free.
	Monotone []int8
	// Seed makes training reproducible.
	Seed uint64
}

// Forest is a random forest: the mean of its trees' leaf frequencies.
type Forest struct {
	Trees []Tree
}

// Predict returns the mean over trees of the positive fraction in x's leaf.
func (f *Forest) Predict(x []float64) float64 {
	var s float64
	for i := range f.Trees {
		s += f.Trees[i].Predict(x)
	}
	return s / float64(len(f.Trees))
}

// FitForest trains a random forest of CART trees on bootstrap samples.
func FitForest(ctx context.Context, X [][]float64, y []float64, cfg ForestConfig) (*Forest, error) {
	if err := checkData(X, y); err != nil {
		return nil, err
	}
	if cfg.Trees <= 0 {
		cfg.Trees = 300
	}
	if cfg.MinLeaf <= 0 {
		cfg.MinLeaf = 1
	}
	d := len(X[0])
	if cfg.FeatureFrac <= 0 {
		cfg.FeatureFrac = math.Max(1, math.Floor(math.Sqrt(float64(d)))) / float64(d)
	}
	data := binData(X)
	n := len(X)
	// Gradient -y with unit hessians makes leaf values the mean label.
	g, h := make([]float64, n), make([]float64, n)
	for i := range n {
		g[i], h[i] = -y[i], 1
	}
	p := treeParams{maxDepth: cfg.MaxDepth, minLeaf: cfg.MinLeaf, featureFrac: cfg.FeatureFrac, minGain: 1e-12, monotone: cfg.Monotone}
	trees := make([]Tree, cfg.Trees)
	var (
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for t := range next {
				// One generator per tree keeps results independent of scheduling.
				rng := rand.New(rand.NewPCG(cfg.Seed, uint64(t)+1))
				idx := make([]int, n)
				for i := range idx {
					idx[i] = rng.IntN(n)
				}
				trees[t] = growTree(data, idx, g, h, p, rng)
			}
		})
	}
	var err error
	for t := range cfg.Trees {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- t
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return &Forest{Trees: trees}, nil
}

// GBTConfig configures gradient-boosted trees; zero fields take the defaults.
type GBTConfig struct {
	// Trees is the number of boosting rounds; default 300.
	Trees int
	// LearningRate shrinks every tree; default 0.05.
	LearningRate float64
	// MaxDepth bounds tree depth; default 3.
	MaxDepth int
	// MinLeaf is the fewest examples per leaf; default 20. It is lowered to a tenth
	// of the examples a round sees when that is smaller, so that settings chosen on
	// a large training set still split a small one.
	MinLeaf int
	// Lambda is the L2 penalty on leaf values; default 1.
	Lambda float64
	// Subsample is the fraction of examples each round sees; default 0.8.
	Subsample float64
	// FeatureFrac is the fraction of features tried per split; default 0.8.
	FeatureFrac float64
	// Monotone constrains the output per feature: +1 non-decreasing, -1
	// non-increasing, 0 (or absent) free.
	Monotone []int8
	// Seed makes training reproducible.
	Seed uint64
}

// GBT is a gradient-boosted tree ensemble for the logistic loss: the positive-class
// log-odds is Base plus the sum of the trees.
type GBT struct {
	Base  float64
	Trees []Tree
}

// Margin returns the log-odds of x.
func (m *GBT) Margin(x []float64) float64 {
	s := m.Base
	for i := range m.Trees {
		s += m.Trees[i].Predict(x)
	}
	return s
}

// Predict returns the probability of the positive class.
func (m *GBT) Predict(x []float64) float64 { return sigmoid(m.Margin(x)) }

// FitGBT trains gradient-boosted trees with Newton steps on the logistic loss.
func FitGBT(ctx context.Context, X [][]float64, y []float64, cfg GBTConfig) (*GBT, error) {
	return fitGBT(ctx, X, y, nil, cfg)
}

func fitGBT(ctx context.Context, X [][]float64, y []float64, init []float64, cfg GBTConfig) (*GBT, error) {
	if err := checkData(X, y); err != nil {
		return nil, err
	}
	if cfg.Trees <= 0 {
		cfg.Trees = 300
	}
	if cfg.LearningRate <= 0 {
		cfg.LearningRate = 0.05
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 3
	}
	if cfg.MinLeaf <= 0 {
		cfg.MinLeaf = 20
	}
	if cfg.Lambda <= 0 {
		cfg.Lambda = 1
	}
	if cfg.Subsample <= 0 || cfg.Subsample > 1 {
		cfg.Subsample = 0.8
	}
	if cfg.FeatureFrac <= 0 || cfg.FeatureFrac > 1 {
		cfg.FeatureFrac = 0.8
	}
	n := len(X)
	var pos float64
	for _, v := range y {
		pos += v
	}
	m := &GBT{Base: math.Log(pos / (float64(n) - pos))}
	data := binData(X)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6b7))
	margin := make([]float64, n)
	for i := range margin {
		margin[i] = m.Base
		if init != nil {
			margin[i] = init[i]
		}
	}
	g, h := make([]float64, n), make([]float64, n)
	p := treeParams{
		maxDepth: cfg.MaxDepth, minLeaf: min(cfg.MinLeaf, max(1, int(float64(n)*cfg.Subsample)/10)), minHessian: 1e-3, lambda: cfg.Lambda,
		featureFrac: cfg.FeatureFrac, shrink: cfg.LearningRate, minGain: 1e-9, monotone: cfg.Monotone,
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	for range cfg.Trees {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for i := range n {
			pr := sigmoid(margin[i])
			g[i], h[i] = pr-y[i], math.Max(pr*(1-pr), 1e-12)
		}
		idx := all
		if cfg.Subsample < 1 {
			idx = idx[:0:0]
			for i := range n {
				if rng.Float64() < cfg.Subsample {
					idx = append(idx, i)
				}
			}
		}
		t := growTree(data, idx, g, h, p, rng)
		for i := range n {
			margin[i] += t.Predict(X[i])
		}
		m.Trees = append(m.Trees, t)
	}
	return m, nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-12), 1-1e-12)
	return math.Log(p / (1 - p))
}

// FitGBTFrom is FitGBT boosting from given initial margins instead of the prior log-odds.
func FitGBTFrom(ctx context.Context, X [][]float64, y []float64, init []float64, cfg GBTConfig) (*GBT, error) {
	return fitGBT(ctx, X, y, init, cfg)
}
