package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Spend is one repeat customer's spend in the Gamma-Gamma's terms.
type Spend struct {
	// X is the number of repeat transactions (> 0).
	X float64
	// Mean is the mean value of those transactions (> 0).
	Mean float64
}

// GammaGamma holds the Gamma-Gamma spend parameters: a transaction's value is
// Gamma(P, ν) around the customer's mean, and ν is Gamma(Q, Gamma) across customers.
type GammaGamma struct {
	P, Q, Gamma float64
}

// GammaGammaFit is the result of [FitGammaGamma].
type GammaGammaFit struct {
	Params        GammaGamma
	LogLikelihood float64
	Iterations    int
}

// ExpectedSpend returns the expected value of a future transaction of a customer with
// x repeat transactions of mean value mean; with x = 0 it is the population mean.
func (g GammaGamma) ExpectedSpend(x, mean float64) float64 {
	popMean := g.P * g.Gamma / (g.Q - 1)
	if x <= 0 || mean <= 0 {
		return popMean
	}
	w := (g.Q - 1) / (g.P*x + g.Q - 1)
	return w*popMean + (1-w)*mean
}

// FitGammaGamma fits the Gamma-Gamma model to repeat customers' spend by maximum
// likelihood. Entries with X <= 0 or Mean <= 0 are rejected.
func FitGammaGamma(ctx context.Context, data []Spend) (GammaGammaFit, error) {
	if len(data) == 0 {
		return GammaGammaFit{}, ErrNoData
	}
	var sum float64
	for _, s := range data {
		if !(s.X > 0) || !(s.Mean > 0) || math.IsInf(s.Mean, 0) {
			return GammaGammaFit{}, fmt.Errorf("%w: spend x=%v mean=%v", ErrInvalidSummary, s.X, s.Mean)
		}
		sum += s.Mean
	}
	// Start with q = 2 and γ matching the observed mean spend.
	mean := sum / float64(len(data))
	x0 := []float64{0, math.Log(2), math.Log(mean)}
	eval := func(theta, grad []float64) float64 { return ggNegLL(data, theta, grad) }
	res, err := minimize(ctx, 3, eval, x0, 0)
	if err != nil {
		return GammaGammaFit{}, err
	}
	return GammaGammaFit{
		Params:        GammaGamma{P: math.Exp(res.X[0]), Q: math.Exp(res.X[1]), Gamma: math.Exp(res.X[2])},
		LogLikelihood: -res.F,
		Iterations:    res.Stats.MajorIterations,
	}, nil
}

func ggNegLL(data []Spend, theta, grad []float64) float64 {
	p, q, g := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2])
	if math.IsInf(p+q+g, 0) || p == 0 || q == 0 || g == 0 {
		clear(grad)
		return math.Inf(1)
	}
	lgQ, _ := math.Lgamma(q)
	psiQ := mathext.Digamma(q)
	logG := math.Log(g)
	var ll, dp, dq, dg float64
	for _, s := range data {
		px := p * s.X
		lgPXQ, _ := math.Lgamma(px + q)
		lgPX, _ := math.Lgamma(px)
		lm, lx := math.Log(s.Mean), math.Log(s.X)
		lgmx := math.Log(g + s.Mean*s.X)
		ll += lgPXQ - lgPX - lgQ + q*logG + (px-1)*lm + px*lx - (px+q)*lgmx
		if grad != nil {
			psiPXQ := mathext.Digamma(px + q)
			dp += s.X * (psiPXQ - mathext.Digamma(px) + lm + lx - lgmx)
			dq += psiPXQ - psiQ + logG - lgmx
			dg += q/g - (px+q)/(g+s.Mean*s.X)
		}
	}
	if grad != nil {
		grad[0], grad[1], grad[2] = -dp*p, -dq*q, -dg*g
	}
	if math.IsNaN(ll) {
		return math.Inf(1)
	}
	return -ll
}
