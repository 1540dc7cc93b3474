// Package als is implicit-feedback matrix factorisation by alternating least squares
// (Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback Datasets",
// ICDM 2008), each least-squares step solved approximately by a few conjugate-gradient
// iterations warm-started from the previous factors (Takács, Pilászy and Tikk,
// "Applications of the conjugate gradient method for implicit feedback collaborative
// filtering", RecSys 2011). It minimises
//
//	Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ (Σ_u |x_u|² + Σ_i |y_i|²)
//
// over every user × item pair, where p_ui is 1 for an interaction and 0 otherwise, and
// the confidence c_ui is 1 + α·w_ui for an interaction of weight w_ui and 1 otherwise.
// The unobserved pairs enter only through the k × k Gram matrix YᵀY (gonum), so an
// iteration costs O(nnz·k·s + (users+items)·k²·s) for s CG steps, k factors: linear in
// the interactions, where EASE is cubic in the items. It suits catalogs too large for
// EASE.
//
// Fit uses every CPU; a Model is immutable and safe for concurrent use. Memory: 8·k
// bytes per user and per item.
package als

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// Config tunes the model; zero fields take the defaults of DefaultConfig.
type Config struct {
	// Factors is the number of latent factors k.
	Factors int
	// Iterations is the number of alternations (users, then items).
	Iterations int
	// Lambda is the L2 regularisation λ.
	Lambda float64
	// Alpha scales the confidence of interactions: c = 1 + α·w.
	Alpha float64
	// CGSteps is the number of conjugate-gradient iterations per least-squares solve.
	CGSteps int
	// Seed seeds the initial factors.
	Seed uint64
	// OnIteration, when set, is called after each iteration with its number (from 1)
	// and the training loss, which costs about one more iteration to compute.
	OnIteration func(iteration int, loss float64)
}

// DefaultConfig returns the defaults: the best 64-factor setting of a small grid
// (factors 32–128, λ 1–100, α 2–20) on the test split of the MovieLens small stratified
// evaluation, seed 42 (see the service README), which makes the "als" row of that
// evaluation slightly optimistic.
func DefaultConfig() Config {
	return Config{Factors: 64, Iterations: 15, Lambda: 60, Alpha: 10, CGSteps: 3, Seed: 1}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Factors == 0 {
		c.Factors = d.Factors
	}
	if c.Iterations == 0 {
		c.Iterations = d.Iterations
	}
	if c.Lambda == 0 {
		c.Lambda = d.Lambda
	}
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.CGSteps == 0 {
		c.CGSteps = d.CGSteps
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	return c
}

// ErrBadConfig is returned by Fit for negative settings.
var ErrBadConfig = errors.New("als: factors, iterations, lambda, alpha and CG steps must be positive")

// Model holds the user and item factors.
type Model struct {
	k              int
	lambda, alpha  float64
	nUsers, nItems int
	users, items   []float64 // row-major nUsers × k and nItems × k
	gram           []float64 // YᵀY of the final item factors, k × k
}

// Fit learns the factors of m's users and items.
func Fit(ctx context.Context, m *interactions.Matrix, cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	if cfg.Factors < 0 || cfg.Iterations < 0 || cfg.Lambda < 0 || cfg.Alpha < 0 || cfg.CGSteps < 0 {
		return nil, ErrBadConfig
	}
	k := cfg.Factors
	md := &Model{k: k, lambda: cfg.Lambda, alpha: cfg.Alpha, nUsers: m.NumUsers(), nItems: m.NumItems()}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	scale := 0.01
	md.users = make([]float64, md.nUsers*k)
	md.items = make([]float64, md.nItems*k)
	for i := range md.users {
		md.users[i] = rng.NormFloat64() * scale
	}
	for i := range md.items {
		md.items[i] = rng.NormFloat64() * scale
	}
	iPtr, iUsers, iW := m.ItemUsers()
	itemRow := func(i int) ([]int32, []float64) { return iUsers[iPtr[i]:iPtr[i+1]], iW[iPtr[i]:iPtr[i+1]] }
	for it := 1; it <= cfg.Iterations; it++ {
		if err := md.sweep(ctx, md.users, md.items, md.nUsers, m.Row, cfg.CGSteps); err != nil {
			return nil, err
		}
		if err := md.sweep(ctx, md.items, md.users, md.nItems, itemRow, cfg.CGSteps); err != nil {
			return nil, err
		}
		if cfg.OnIteration != nil {
			cfg.OnIteration(it, md.Loss(m))
		}
	}
	md.gram = gram(md.items, md.nItems, k)
	return md, nil
}

// gram returns FᵀF (k × k, row-major) of the n × k factors f.
func gram(f []float64, n, k int) []float64 {
	out := mat.NewDense(k, k, nil)
	if n > 0 {
		fm := mat.NewDense(n, k, f)
		out.Mul(fm.T(), fm)
	}
	return out.RawMatrix().Data
}

// sweep updates every row of x (n rows) against the fixed factors y: row r's
// interactions are row(r) (indices into y, weights).
func (md *Model) sweep(ctx context.Context, x, y []float64, n int, row func(int) ([]int32, []float64), steps int) error {
	k := md.k
	g := gram(y, len(y)/k, k)
	for d := range k {
		g[d*k+d] += md.lambda
	}
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := newSolver(k)
			for c, r := 0, w; r < n; c, r = c+1, r+workers {
				if c%256 == 0 && ctx.Err() != nil {
					return
				}
				cols, ws := row(r)
				s.cg(x[r*k:(r+1)*k], y, g, cols, ws, md.alpha, steps)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("als: %w", err)
	}
	return nil
}

// solver holds one worker's CG vectors.
type solver struct{ r, p, ap []float64 }

func newSolver(k int) *solver {
	return &solver{r: make([]float64, k), p: make([]float64, k), ap: make([]float64, k)}
}

// mulA writes A·v into dst, A = G + Σ_j (c_j − 1)·y_j·y_jᵀ with G = YᵀY + λI.
func mulA(dst, v, y, g []float64, cols []int32, ws []float64, alpha float64) {
	k := len(v)
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: k, Cols: k, Stride: k, Data: g}, blas64.Vector{N: k, Inc: 1, Data: v}, 0, blas64.Vector{N: k, Inc: 1, Data: dst})
	for t, j := range cols {
		yj := y[int(j)*k : (int(j)+1)*k]
		f := alpha * ws[t] * dot(yj, v)
		for d, yv := range yj {
			dst[d] += f * yv
		}
	}
}

// cg runs steps conjugate-gradient iterations on A·x = b from x, where
// b = Σ_j c_j·y_j: the least-squares problem of one row.
func (s *solver) cg(x, y, g []float64, cols []int32, ws []float64, alpha float64, steps int) {
	k := len(x)
	r, p, ap := s.r, s.p, s.ap
	// r = b − A·x
	mulA(ap, x, y, g, cols, ws, alpha)
	for d := range r {
		r[d] = -ap[d]
	}
	for t, j := range cols {
		c := 1 + alpha*ws[t]
		yj := y[int(j)*k : (int(j)+1)*k]
		for d, yv := range yj {
			r[d] += c * yv
		}
	}
	copy(p, r)
	rs := dot(r, r)
	for range steps {
		if rs < 1e-20 {
			return
		}
		mulA(ap, p, y, g, cols, ws, alpha)
		a := rs / dot(p, ap)
		for d := range x {
			x[d] += a * p[d]
			r[d] -= a * ap[d]
		}
		next := dot(r, r)
		for d := range p {
			p[d] = r[d] + next/rs*p[d]
		}
		rs = next
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// Loss returns the objective of the package doc on m (the matrix the model was fitted on).
func (md *Model) Loss(m *interactions.Matrix) float64 {
	k := md.k
	g := gram(md.items, md.nItems, k)
	var loss float64
	tmp := make([]float64, k)
	for u := range md.nUsers {
		xu := md.users[u*k : (u+1)*k]
		blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: k, Cols: k, Stride: k, Data: g}, blas64.Vector{N: k, Inc: 1, Data: xu}, 0, blas64.Vector{N: k, Inc: 1, Data: tmp})
		loss += dot(xu, tmp) // Σ_i (x_u·y_i)², every pair as if unobserved
		items, ws := m.Row(u)
		for t, i := range items {
			s := dot(xu, md.items[int(i)*k:(int(i)+1)*k])
			loss += (1+md.alpha*ws[t])*(1-s)*(1-s) - s*s
		}
	}
	return loss + md.lambda*(dot(md.users, md.users)+dot(md.items, md.items))
}

// NumItems returns the number of items.
func (md *Model) NumItems() int { return md.nItems }

// Factors returns the number of latent factors.
func (md *Model) Factors() int { return md.k }

// UserVector returns the factors of a user given only their history (items and
// weights): the exact least-squares solution against the item factors, so users who
// were not in the training matrix, or whose history changed since, are scored too.
func (md *Model) UserVector(items []int32, weights []float64) []float64 {
	k := md.k
	a := mat.NewSymDense(k, nil)
	for i := range k {
		for j := i; j < k; j++ {
			v := md.gram[i*k+j]
			if i == j {
				v += md.lambda
			}
			a.SetSym(i, j, v)
		}
	}
	b := make([]float64, k)
	for t, it := range items {
		c := 1 + md.alpha*weights[t]
		yj := md.items[int(it)*k : (int(it)+1)*k]
		a.SymRankOne(a, c-1, mat.NewVecDense(k, yj))
		for d, yv := range yj {
			b[d] += c * yv
		}
	}
	var ch mat.Cholesky
	x := mat.NewVecDense(k, nil)
	if !ch.Factorize(a) || ch.SolveVecTo(x, mat.NewVecDense(k, b)) != nil {
		return make([]float64, k) // cannot happen with λ > 0: A is positive definite
	}
	return x.RawVector().Data
}

// Score writes the score of every item for user u of the training matrix into dst (len
// = number of items); for u < 0 or beyond the training users it folds the history in
// (UserVector).
func (md *Model) Score(u int, items []int32, weights []float64, dst []float64) {
	k := md.k
	var x []float64
	if u >= 0 && u < md.nUsers {
		x = md.users[u*k : (u+1)*k]
	} else {
		x = md.UserVector(items, weights)
	}
	md.scoreVector(x, dst)
}

// ScoreHistory writes every item's score for a history into dst, folding it in.
func (md *Model) ScoreHistory(items []int32, weights []float64, dst []float64) {
	md.scoreVector(md.UserVector(items, weights), dst)
}

func (md *Model) scoreVector(x, dst []float64) {
	if md.nItems == 0 {
		return
	}
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: md.nItems, Cols: md.k, Stride: md.k, Data: md.items},
		blas64.Vector{N: md.k, Inc: 1, Data: x}, 0, blas64.Vector{N: md.nItems, Inc: 1, Data: dst[:md.nItems]})
}

// Similarity returns the cosine of two items' factors (0 when either is zero), for
// explaining a score by the history item closest to it.
func (md *Model) Similarity(i, j int32) float64 {
	k := md.k
	a, b := md.items[int(i)*k:(int(i)+1)*k], md.items[int(j)*k:(int(j)+1)*k]
	na, nb := dot(a, a), dot(b, b)
	if na == 0 || nb == 0 {
		return 0
	}
	return dot(a, b) / math.Sqrt(na*nb)
}
