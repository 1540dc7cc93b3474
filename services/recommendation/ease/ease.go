// Package ease is EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
// WWW 2019), and its user-based twin (UserModel): an item × item weight matrix B learnt
// in closed form,
//
//	P = (XᵀX + λI)⁻¹,  B = I − P·diag(1/diag(P)),  diag(B) = 0,
//
// so a user's score for item j is Σ_i x_i·B_ij over the user's history x.
//
// Fit holds one dense n × n float64 matrix (the Gram matrix, inverted in place into B)
// plus workspace of a third of that at its peak: about 10.7·n² bytes, 1.07 GB for 10,000
// items. Its time is dominated by the inversion, about 1.33·n³ floating-point operations
// done by gonum's parallel matrix product (pure Go, no cgo): 81 s for the 8,793 items of
// the MovieLens small training split on two idle cores. Callers bound n (see the
// service's MaxEASEItems). Models are immutable and safe for concurrent use.
package ease

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// DefaultLambda is the L2 regularisation of the reference figures.
const DefaultLambda = 300

// Errors.
var (
	ErrBadLambda           = errors.New("ease: lambda must be positive")
	ErrNotPositiveDefinite = errors.New("ease: Gram matrix is not positive definite")
)

// Config tunes the model.
type Config struct {
	// Lambda is the L2 regularisation added to the Gram matrix's diagonal; 0 means
	// DefaultLambda.
	Lambda float64
}

// Model is the learnt item × item matrix B.
type Model struct {
	n int
	b []float64 // row-major n × n
}

// Fit learns B from m.
func Fit(ctx context.Context, m *interactions.Matrix, cfg Config) (*Model, error) {
	lambda := cfg.Lambda
	if lambda == 0 {
		lambda = DefaultLambda
	}
	if lambda < 0 {
		return nil, ErrBadLambda
	}
	n := m.NumItems()
	g := Gram(m)
	for i := range n {
		g[i*n+i] += lambda
	}
	return FromRegularisedGram(ctx, g, n)
}

// Gram returns XᵀX of m as a row-major n × n slice (n = number of items).
func Gram(m *interactions.Matrix) []float64 {
	n := m.NumItems()
	g := make([]float64, n*n)
	iPtr, iUsers, iW := m.ItemUsers()
	parallelRows(n, func(i int) {
		row := g[i*n : (i+1)*n]
		for k := iPtr[i]; k < iPtr[i+1]; k++ {
			wu := iW[k]
			items, ws := m.Row(int(iUsers[k]))
			for t, j := range items {
				row[j] += wu * ws[t]
			}
		}
	})
	return g
}

// FromRegularisedGram learns B from G = XᵀX + Λ (row-major n × n, regularisation already
// on the diagonal), which it overwrites and keeps.
func FromRegularisedGram(ctx context.Context, g []float64, n int) (*Model, error) {
	if len(g) != n*n {
		return nil, fmt.Errorf("ease: Gram matrix has %d entries, want %d", len(g), n*n)
	}
	p := blas64.General{Rows: n, Cols: n, Stride: n, Data: g}
	if err := invertSPD(ctx, p); err != nil {
		return nil, err
	}
	diag := make([]float64, n)
	for j := range n {
		diag[j] = g[j*n+j]
	}
	parallelRows(n, func(i int) {
		row := g[i*n : (i+1)*n]
		for j, d := range diag {
			row[j] = -row[j] / d
		}
		row[i] = 0
	})
	return &Model{n: n, b: g}, nil
}

// NumItems is the number of items the model knows.
func (md *Model) NumItems() int { return md.n }

// Weight returns B_ij.
func (md *Model) Weight(i, j int) float64 { return md.b[i*md.n+j] }

// Score writes into dst (len = number of items) the score of every item for a user with
// the given history: dst = Σ_k weights[k]·B[items[k], ·].
func (md *Model) Score(items []int32, weights []float64, dst []float64) {
	clear(dst)
	y := blas64.Vector{N: md.n, Inc: 1, Data: dst}
	for k, i := range items {
		if int(i) >= md.n || i < 0 {
			continue
		}
		blas64.Axpy(weights[k], blas64.Vector{N: md.n, Inc: 1, Data: md.b[int(i)*md.n : (int(i)+1)*md.n]}, y)
	}
}

// leaf is the size below which invertSPD hands over to a Cholesky inversion.
const leaf = 192

// invertSPD inverts the symmetric positive definite a (full storage) in place by block
// recursion on the Schur complement, so that the O(n³) work is in parallel matrix
// products:
//
//	[A  B ]⁻¹   [A⁻¹ + W·S⁻¹·Wᵀ   −W·S⁻¹]
//	[Bᵀ C ]   = [   (−W·S⁻¹)ᵀ       S⁻¹ ],  W = A⁻¹B,  S = C − BᵀW.
func invertSPD(ctx context.Context, a blas64.General) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ease: fit: %w", err)
	}
	n := a.Rows
	if n <= leaf {
		return invertLeaf(a)
	}
	m := n / 2
	r := n - m
	tl, tr, br := view(a, 0, 0, m, m), view(a, 0, m, m, r), view(a, m, m, r, r)
	if err := invertSPD(ctx, tl); err != nil {
		return err
	}
	w := blas64.General{Rows: m, Cols: r, Stride: r, Data: make([]float64, m*r)}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, tl, tr, 0, w)
	blas64.Gemm(blas.Trans, blas.NoTrans, -1, tr, w, 1, br)
	if err := invertSPD(ctx, br); err != nil {
		return err
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, -1, w, br, 0, tr)
	blas64.Gemm(blas.NoTrans, blas.Trans, -1, tr, w, 1, tl)
	for i := range r {
		dst := a.Data[(m+i)*a.Stride : (m+i)*a.Stride+m]
		for j := range m {
			dst[j] = tr.Data[j*tr.Stride+i]
		}
	}
	return nil
}

func invertLeaf(a blas64.General) error {
	n := a.Rows
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, a.Data[i*a.Stride+j])
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(s) {
		return ErrNotPositiveDefinite
	}
	inv := mat.NewSymDense(n, nil)
	if err := ch.InverseTo(inv); err != nil {
		return fmt.Errorf("%w: %w", ErrNotPositiveDefinite, err)
	}
	for i := range n {
		for j := range n {
			a.Data[i*a.Stride+j] = inv.At(i, j)
		}
	}
	return nil
}

func view(a blas64.General, i, j, rows, cols int) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: a.Stride, Data: a.Data[i*a.Stride+j:]}
}

// parallelRows calls f(i) for i in [0, n) on all CPUs.
func parallelRows(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				f(i)
			}
		})
	}
	wg.Wait()
}
