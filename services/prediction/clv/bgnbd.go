package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/optimize"
)

// Errors returned by the fits.
var (
	// ErrNoData is returned when there is nothing to fit.
	ErrNoData = errors.New("clv: no customers to fit")
	// ErrInvalidSummary is returned for a summary that breaks 0 <= t_x <= T or has a
	// negative or fractional x.
	ErrInvalidSummary = errors.New("clv: invalid customer summary")
	// ErrNotConverged is returned when the optimiser stopped without a finite optimum.
	ErrNotConverged = errors.New("clv: fit did not converge")
)

// Summary is one customer's purchase history in the BG/NBD's terms, in the caller's
// time unit.
type Summary struct {
	// X is the number of repeat transactions.
	X float64
	// TX is the time from the first to the last transaction (0 when X is 0).
	TX float64
	// T is the time from the first transaction to the end of observation.
	T float64
}

func (s Summary) validate() error {
	if s.X < 0 || s.TX < 0 || s.T < s.TX || math.IsNaN(s.X+s.TX+s.T) || s.X != math.Trunc(s.X) {
		return fmt.Errorf("%w: x=%v t_x=%v T=%v", ErrInvalidSummary, s.X, s.TX, s.T)
	}
	return nil
}

// BGNBD holds the BG/NBD parameters: purchase rates are Gamma(R, Alpha) across
// customers, dropout probabilities after each purchase are Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
}

// LogLikelihood returns the BG/NBD log-likelihood of the summaries under m.
func (m BGNBD) LogLikelihood(data []Summary) float64 {
	f := newBGFitter(data)
	return -f.eval([]float64{math.Log(m.R), math.Log(m.Alpha), math.Log(m.A), math.Log(m.B)}, nil)
}

// PAlive returns the probability that a customer with history s is still active at
// the end of observation.
func (m BGNBD) PAlive(s Summary) float64 {
	if s.X == 0 {
		return 1
	}
	// 1 / (1 + a/(b+x-1) * ((α+T)/(α+t_x))^(r+x)), in logs to avoid overflow.
	l := math.Log(m.A) - math.Log(m.B+s.X-1) + (m.R+s.X)*(math.Log(m.Alpha+s.T)-math.Log(m.Alpha+s.TX))
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases returns the expected number of transactions of a customer with
// history s in the next t time units (Fader, Hardie & Lee 2005, eq. 10).
func (m BGNBD) ExpectedPurchases(s Summary, t float64) float64 {
	if t <= 0 {
		return 0
	}
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	x, tx, T := s.X, s.TX, s.T
	z := t / (alpha + T + t)
	hyp := mathext.Hypergeo(r+x, b+x, a+b+x-1, z)
	num := (a + b + x - 1) / (a - 1) * (1 - math.Exp((r+x)*math.Log((alpha+T)/(alpha+T+t)))*hyp)
	den := 1.0
	if x > 0 {
		den += a / (b + x - 1) * math.Exp((r+x)*math.Log((alpha+T)/(alpha+tx)))
	}
	e := num / den
	if math.IsNaN(e) || e < 0 {
		return 0
	}
	return e
}

// FitOptions tune a fit; the zero value is ready to use.
type FitOptions struct {
	// Init is the starting point; all ones when zero.
	Init BGNBD
	// MaxIterations bounds the optimiser's major iterations; default 500.
	MaxIterations int
}

// BGNBDFit is the result of [FitBGNBD].
type BGNBDFit struct {
	Params        BGNBD
	LogLikelihood float64
	Iterations    int
}

// FitBGNBD fits the BG/NBD to the summaries by maximum likelihood. It checks ctx
// between iterations.
func FitBGNBD(ctx context.Context, data []Summary, opts FitOptions) (BGNBDFit, error) {
	if len(data) == 0 {
		return BGNBDFit{}, ErrNoData
	}
	for _, s := range data {
		if err := s.validate(); err != nil {
			return BGNBDFit{}, err
		}
	}
	init := opts.Init
	if init == (BGNBD{}) {
		init = BGNBD{R: 1, Alpha: 1, A: 1, B: 1}
	}
	f := newBGFitter(data)
	x0 := []float64{math.Log(init.R), math.Log(init.Alpha), math.Log(init.A), math.Log(init.B)}
	res, err := minimize(ctx, 4, f.eval, x0, opts.MaxIterations)
	if err != nil {
		return BGNBDFit{}, err
	}
	p := BGNBD{R: math.Exp(res.X[0]), Alpha: math.Exp(res.X[1]), A: math.Exp(res.X[2]), B: math.Exp(res.X[3])}
	return BGNBDFit{Params: p, LogLikelihood: -res.F, Iterations: res.Stats.MajorIterations}, nil
}

// minimize runs BFGS on an objective that computes its value and, when grad is not
// nil, its gradient in one pass; the pair is cached so that gonum's separate Func and
// Grad calls cost one evaluation.
func minimize(ctx context.Context, dim int, eval func(x, grad []float64) float64, x0 []float64, maxIter int) (*optimize.Result, error) {
	if maxIter <= 0 {
		maxIter = 500
	}
	var (
		lastX    = make([]float64, dim)
		lastF    = math.NaN()
		lastGrad = make([]float64, dim)
		haveGrad bool
	)
	same := func(x []float64) bool {
		if math.IsNaN(lastF) {
			return false
		}
		for i := range x {
			if x[i] != lastX[i] {
				return false
			}
		}
		return true
	}
	compute := func(x []float64) {
		copy(lastX, x)
		lastF = eval(x, lastGrad)
		haveGrad = true
	}
	problem := optimize.Problem{
		Func: func(x []float64) float64 {
			if !same(x) {
				compute(x)
			}
			return lastF
		},
		Grad: func(grad, x []float64) {
			if !same(x) || !haveGrad {
				compute(x)
			}
			copy(grad, lastGrad)
		},
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: 1e-7,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 50},
	}
	res, err := optimize.Minimize(problem, x0, settings, &optimize.BFGS{})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("clv: fit: %w", ctxErr)
	}
	if res == nil || math.IsNaN(res.F) || math.IsInf(res.F, 0) {
		return nil, fmt.Errorf("%w: %v", ErrNotConverged, err)
	}
	// gonum reports a line search that cannot improve further as an error even at the
	// optimum; accept it when the gradient is small relative to the data.
	if err != nil && !smallGradient(res.Gradient, res.F) {
		return nil, fmt.Errorf("%w: %v", ErrNotConverged, err)
	}
	return res, nil
}

func smallGradient(g []float64, f float64) bool {
	scale := math.Max(1, math.Abs(f))
	for _, v := range g {
		if math.Abs(v) > 1e-4*scale {
			return false
		}
	}
	return true
}

// bgFitter holds the summaries in columns, grouped by x for the terms that depend on x
// only.
type bgFitter struct {
	x, tx, T []float64
	xs       []float64 // distinct repeat counts
	nx       []float64 // customers per distinct count
	workers  int
}

func newBGFitter(data []Summary) *bgFitter {
	f := &bgFitter{
		x:       make([]float64, len(data)),
		tx:      make([]float64, len(data)),
		T:       make([]float64, len(data)),
		workers: runtime.GOMAXPROCS(0),
	}
	counts := map[float64]float64{}
	for i, s := range data {
		f.x[i], f.tx[i], f.T[i] = s.X, s.TX, s.T
		counts[s.X]++
	}
	for x, n := range counts {
		f.xs = append(f.xs, x)
		f.nx = append(f.nx, n)
	}
	if len(data) < 20000 {
		f.workers = 1
	}
	return f
}

// eval returns the negative log-likelihood at θ = log(r, α, a, b) and, when grad is not
// nil, its gradient with respect to θ.
func (f *bgFitter) eval(theta, grad []float64) float64 {
	r, alpha, a, b := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])
	if math.IsInf(r+alpha+a+b, 0) || r == 0 || alpha == 0 || a == 0 || b == 0 {
		clear(grad)
		return math.Inf(1)
	}
	// Terms in x only: ln A1 + ln A2 (without r ln α, added per customer below).
	var ll, dr, dalpha, da, db float64
	lgAB, _ := math.Lgamma(a + b)
	lgR, _ := math.Lgamma(r)
	lgB, _ := math.Lgamma(b)
	psiR, psiB, psiAB := mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)
	for i, x := range f.xs {
		n := f.nx[i]
		lgRX, _ := math.Lgamma(r + x)
		lgBX, _ := math.Lgamma(b + x)
		lgABX, _ := math.Lgamma(a + b + x)
		ll += n * (lgRX - lgR + lgAB + lgBX - lgB - lgABX)
		if grad != nil {
			psiABX := mathext.Digamma(a + b + x)
			dr += n * (mathext.Digamma(r+x) - psiR)
			da += n * (psiAB - psiABX)
			db += n * (psiAB + mathext.Digamma(b+x) - psiB - psiABX)
		}
	}
	n := float64(len(f.x))
	logAlpha := math.Log(alpha)
	ll += n * r * logAlpha
	dr += n * logAlpha
	dalpha += n * r / alpha

	// Per-customer term ln(A3 + [x>0] A4), split across workers.
	type part struct{ ll, dr, dalpha, da, db float64 }
	parts := make([]part, f.workers)
	chunk := (len(f.x) + f.workers - 1) / f.workers
	var wg sync.WaitGroup
	logA := math.Log(a)
	for w := range f.workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(f.x))
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			var p part
			for i := lo; i < hi; i++ {
				x, tx, T := f.x[i], f.tx[i], f.T[i]
				rx := r + x
				lT := math.Log(alpha + T)
				u := -rx * lT
				if x == 0 {
					p.ll += u
					if grad != nil {
						p.dr -= lT
						p.dalpha -= rx / (alpha + T)
					}
					continue
				}
				ltx := math.Log(alpha + tx)
				bx1 := b + x - 1
				v := logA - math.Log(bx1) - rx*ltx
				// log-sum-exp of u and v, and the weight of each term.
				var lse, w3 float64
				if u > v {
					e := math.Exp(v - u)
					lse = u + math.Log1p(e)
					w3 = 1 / (1 + e)
				} else {
					e := math.Exp(u - v)
					lse = v + math.Log1p(e)
					w3 = e / (1 + e)
				}
				p.ll += lse
				if grad != nil {
					w4 := 1 - w3
					p.dr += -w3*lT - w4*ltx
					p.dalpha += -w3*rx/(alpha+T) - w4*rx/(alpha+tx)
					p.da += w4 / a
					p.db += -w4 / bx1
				}
			}
			parts[w] = p
		})
	}
	wg.Wait()
	for _, p := range parts {
		ll += p.ll
		dr += p.dr
		dalpha += p.dalpha
		da += p.da
		db += p.db
	}
	if grad != nil {
		// Chain rule for θ = log p: ∂/∂θ = p ∂/∂p; negate for minimisation.
		grad[0] = -dr * r
		grad[1] = -dalpha * alpha
		grad[2] = -da * a
		grad[3] = -db * b
	}
	if math.IsNaN(ll) {
		return math.Inf(1)
	}
	return -ll
}
