package model

import (
	"context"
	"fmt"
	"time"

	"github.com/stratahq/strata/services/prediction/clv"
	"github.com/stratahq/strata/services/prediction/features"
)

// CLV is the lifetime-value artefact: BG/NBD and Gamma-Gamma parameters in weeks, and
// how they are turned into a value.
type CLV struct {
	BGNBD      clv.BGNBD      `json:"bgnbd"`
	GammaGamma clv.GammaGamma `json:"gamma_gamma"`
	// Months and MonthlyDiscount define the value: expected spend over Months,
	// discounted monthly.
	Months          int     `json:"months"`
	MonthlyDiscount float64 `json:"monthly_discount"`
	// Customers and RepeatCustomers count the training data.
	Customers       int     `json:"customers"`
	RepeatCustomers int     `json:"repeat_customers"`
	LogLikelihood   float64 `json:"log_likelihood"`
}

// DefaultMonthlyDiscount is about 12.7% a year.
const DefaultMonthlyDiscount = 0.01

// TrainCLV fits both CLV models to the users' orders up to and including the day of
// asOf.
func TrainCLV(ctx context.Context, states map[string]*features.State, asOf time.Time) (*CLV, error) {
	end := asOf.Add(24 * time.Hour)
	var (
		summaries []clv.Summary
		spends    []clv.Spend
	)
	for _, s := range states {
		c, ok := clv.Summarize(s.Purchases(end), asOf, clv.Week)
		if !ok {
			continue
		}
		summaries = append(summaries, c.Summary)
		if c.X > 0 && c.MeanSpend > 0 {
			spends = append(spends, clv.Spend{X: c.X, Mean: c.MeanSpend})
		}
	}
	bg, err := clv.FitBGNBD(ctx, summaries, clv.FitOptions{})
	if err != nil {
		return nil, fmt.Errorf("model: BG/NBD: %w", err)
	}
	gg, err := clv.FitGammaGamma(ctx, spends)
	if err != nil {
		return nil, fmt.Errorf("model: Gamma-Gamma: %w", err)
	}
	return &CLV{
		BGNBD: bg.Params, GammaGamma: gg.Params, Months: 12, MonthlyDiscount: DefaultMonthlyDiscount,
		Customers: len(summaries), RepeatCustomers: len(spends), LogLikelihood: bg.LogLikelihood,
	}, nil
}

// CLVScore is one user's value.
type CLVScore struct {
	PAlive float64
	// ExpectedPurchases is over the valuation horizon.
	ExpectedPurchases float64
	// Value is in major units of the orders' currency.
	Value float64
}

// Score values a user as of asOf; ok is false for a user without orders.
func (m *CLV) Score(s *features.State, asOf time.Time) (CLVScore, bool) {
	c, ok := clv.Summarize(s.Purchases(asOf), asOf, clv.Week)
	if !ok {
		return CLVScore{}, false
	}
	v := clv.Valuation{BGNBD: m.BGNBD, GammaGamma: m.GammaGamma, Months: m.Months, MonthlyDiscount: m.MonthlyDiscount}
	months := max(m.Months, 1)
	return CLVScore{
		PAlive:            m.BGNBD.PAlive(c.Summary),
		ExpectedPurchases: m.BGNBD.ExpectedPurchases(c.Summary, float64(months)*365.25/12/7),
		Value:             v.CLV(c),
	}, true
}
