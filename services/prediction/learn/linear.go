package learn

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// LogisticConfig configures logistic regression.
type LogisticConfig struct {
	// C is the inverse L2 strength on the standardised weights, as scikit-learn's;
	// default 1.
	C float64
	// Log1p feeds sign(x)·log(1+|x|) instead of x: counts, amounts and durations are
	// skewed, and their logarithms are closer to linear in the log-odds.
	Log1p bool
}

// Logistic is L2-regularised logistic regression on standardised features.
type Logistic struct {
	// Log1p transforms inputs as LogisticConfig.Log1p says, before standardising.
	Log1p bool
	// Mean and Scale standardise each feature: z = (x - Mean) / Scale.
	Mean, Scale []float64
	// Weights apply to the standardised features; Intercept is the log-odds at the
	// mean vector.
	Weights   []float64
	Intercept float64
}

// Margin returns the log-odds of x.
func (m *Logistic) Margin(x []float64) float64 {
	s := m.Intercept
	for j, w := range m.Weights {
		s += w * m.standardise(j, x[j])
	}
	return s
}

func (m *Logistic) standardise(j int, v float64) float64 {
	if m.Log1p {
		v = signedLog1p(v)
	}
	return (v - m.Mean[j]) / m.Scale[j]
}

func signedLog1p(v float64) float64 {
	if v < 0 {
		return -math.Log1p(-v)
	}
	return math.Log1p(v)
}

// Predict returns the probability of the positive class.
func (m *Logistic) Predict(x []float64) float64 { return sigmoid(m.Margin(x)) }

// FitLogistic fits logistic regression by L-BFGS on the penalised log-loss.
// Constant features get zero weight.
func FitLogistic(ctx context.Context, X [][]float64, y []float64, cfg LogisticConfig) (*Logistic, error) {
	if err := checkData(X, y); err != nil {
		return nil, err
	}
	if cfg.C <= 0 {
		cfg.C = 1
	}
	n, d := len(X), len(X[0])
	m := &Logistic{Log1p: cfg.Log1p, Mean: make([]float64, d), Scale: make([]float64, d), Weights: make([]float64, d)}
	col := make([]float64, n)
	for j := range d {
		var s, ss float64
		for i := range n {
			col[i] = X[i][j]
			if cfg.Log1p {
				col[i] = signedLog1p(col[i])
			}
			s += col[i]
		}
		mu := s / float64(n)
		for i := range n {
			ss += (col[i] - mu) * (col[i] - mu)
		}
		m.Mean[j], m.Scale[j] = mu, math.Sqrt(ss/float64(n))
		if m.Scale[j] == 0 {
			m.Scale[j] = 1
		}
	}
	Z := make([][]float64, n)
	for i := range n {
		Z[i] = make([]float64, d)
		for j := range d {
			Z[i][j] = m.standardise(j, X[i][j])
		}
	}
	lambda := 1 / cfg.C
	// θ = (w, b); loss = Σ logloss + λ/2 |w|².
	eval := func(theta, grad []float64) float64 {
		w, b := theta[:d], theta[d]
		var loss float64
		if grad != nil {
			clear(grad)
		}
		for i := range n {
			z := b
			for j := range d {
				z += w[j] * Z[i][j]
			}
			// log(1+e^z) - y z, stably.
			if z > 0 {
				loss += z + math.Log1p(math.Exp(-z)) - y[i]*z
			} else {
				loss += math.Log1p(math.Exp(z)) - y[i]*z
			}
			if grad != nil {
				r := sigmoid(z) - y[i]
				for j := range d {
					grad[j] += r * Z[i][j]
				}
				grad[d] += r
			}
		}
		for j := range d {
			loss += lambda / 2 * w[j] * w[j]
			if grad != nil {
				grad[j] += lambda * w[j]
			}
		}
		return loss
	}
	// gonum asks for the value and the gradient in separate calls at the same point;
	// one pass computes both, so cache the last point.
	var (
		lastX    []float64
		lastF    float64
		lastGrad = make([]float64, d+1)
	)
	at := func(x []float64) {
		if lastX != nil && slices.Equal(lastX, x) {
			return
		}
		lastX = slices.Clone(x)
		lastF = eval(x, lastGrad)
	}
	problem := optimize.Problem{
		Func: func(x []float64) float64 { at(x); return lastF },
		Grad: func(grad, x []float64) { at(x); copy(grad, lastGrad) },
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	res, err := optimize.Minimize(problem, make([]float64, d+1),
		&optimize.Settings{GradientThreshold: 1e-3, MajorIterations: 1000}, &optimize.LBFGS{})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if res == nil || math.IsNaN(res.F) {
		return nil, fmt.Errorf("learn: logistic regression did not converge: %v", err)
	}
	copy(m.Weights, res.X[:d])
	m.Intercept = res.X[d]
	return m, nil
}
