package ease

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// TestInvertSPD checks the block-recursive inversion against gonum's LU inverse, on sizes
// that stay in the Cholesky leaf, split once and split several times with odd halves.
func TestInvertSPD(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 7, leaf, leaf + 1, 3*leaf + 5} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		x := mat.NewDense(2*n, n, nil)
		for i := range 2 * n {
			for j := range n {
				if rng.Float64() < 0.3 {
					x.Set(i, j, 1)
				}
			}
		}
		var g mat.Dense
		g.Mul(x.T(), x)
		for i := range n {
			g.Set(i, i, g.At(i, i)+5)
		}
		var want mat.Dense
		if err := want.Inverse(&g); err != nil {
			t.Fatalf("n=%d: reference inverse: %v", n, err)
		}
		got := mat.DenseCopyOf(&g)
		raw := got.RawMatrix()
		if err := invertSPD(t.Context(), blas64.General{Rows: n, Cols: n, Stride: raw.Stride, Data: raw.Data}); err != nil {
			t.Fatalf("n=%d: invertSPD: %v", n, err)
		}
		var maxDiff float64
		for i := range n {
			for j := range n {
				maxDiff = math.Max(maxDiff, math.Abs(got.At(i, j)-want.At(i, j)))
			}
		}
		if maxDiff > 1e-10 {
			t.Errorf("n=%d: max |got-want| = %g, want ≤ 1e-10", n, maxDiff)
		}
	}
}

func TestInvertSPDRejectsIndefinite(t *testing.T) {
	t.Parallel()
	a := blas64.General{Rows: 2, Cols: 2, Stride: 2, Data: []float64{1, 2, 2, 1}}
	if err := invertSPD(t.Context(), a); err == nil {
		t.Fatalf("invertSPD of an indefinite matrix: got nil error, want ErrNotPositiveDefinite")
	}
}

func contextCancelled(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}
