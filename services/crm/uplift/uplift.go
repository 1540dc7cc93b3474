// Package uplift measures what a campaign arm earned against its control group: the
// conversion rates, the incremental conversions and revenue, the relative uplift, and
// its significance by the two-proportion z-test with a 95 % confidence interval.
//
// The test is the textbook one: z uses the pooled proportion, the p-value is two-sided
// (2·(1 − Φ(|z|))), and the interval of the difference of rates uses the unpooled
// (Wald) standard error. The package holds pure functions; it is safe for concurrent
// use.
package uplift

import "math"

// Z975 is the 97.5th percentile of the standard normal distribution, the critical value
// of a two-sided 95 % interval (scipy.stats.norm.ppf(0.975)).
const Z975 = 1.959963984540054

// Test is the outcome of a two-proportion z-test of x1/n1 against x2/n2.
type Test struct {
	// Diff is x1/n1 − x2/n2.
	Diff float64
	// Z is the statistic with the pooled standard error; PValue its two-sided p-value.
	Z, PValue float64
	// CILow and CIHigh bound the 95 % confidence interval of Diff.
	CILow, CIHigh float64
}

// TwoProportion tests x1 successes of n1 against x2 of n2. With an empty sample, or
// when the pooled proportion is 0 or 1 (no variance), Z is 0 and PValue 1.
func TwoProportion(x1, n1, x2, n2 int64) Test {
	if n1 <= 0 || n2 <= 0 {
		return Test{PValue: 1}
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	t := Test{Diff: p1 - p2, PValue: 1}
	seu := math.Sqrt(p1*(1-p1)/float64(n1) + p2*(1-p2)/float64(n2))
	t.CILow, t.CIHigh = t.Diff-Z975*seu, t.Diff+Z975*seu
	p := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return t
	}
	t.Z = t.Diff / se
	t.PValue = math.Erfc(math.Abs(t.Z) / math.Sqrt2)
	return t
}

// Counts is one arm's raw outcome.
type Counts struct {
	Name                       string
	Audience                   int64
	Sends                      int64
	Delivered, Opened, Clicked int64
	Conversions                int64
	RevenueMinor               int64
	// DiscountMinor is what the arm's redeemed offers cost.
	DiscountMinor int64
}

// Rate returns Conversions / Audience, 0 for an empty arm.
func (c Counts) Rate() float64 {
	if c.Audience == 0 {
		return 0
	}
	return float64(c.Conversions) / float64(c.Audience)
}

// Result is an arm measured against the control.
type Result struct {
	Counts
	Rate float64
	// IncrementalConversions is Conversions minus what the arm would have converted at
	// the control's rate; IncrementalRevenueMinor likewise with revenue per user.
	IncrementalConversions  float64
	IncrementalRevenueMinor int64
	// UpliftPercent is (rate − control rate) / control rate · 100; 0 when the control
	// rate is 0.
	UpliftPercent float64
	Test
	// NetIncrementalRevenueMinor is IncrementalRevenueMinor − DiscountMinor.
	NetIncrementalRevenueMinor int64
}

// Evaluate measures arm against control.
func Evaluate(arm, control Counts) Result {
	r := Result{Counts: arm, Rate: arm.Rate(), Test: TwoProportion(arm.Conversions, arm.Audience, control.Conversions, control.Audience)}
	cr := control.Rate()
	r.IncrementalConversions = float64(arm.Conversions) - cr*float64(arm.Audience)
	if control.Audience > 0 {
		perUser := float64(control.RevenueMinor) / float64(control.Audience)
		r.IncrementalRevenueMinor = arm.RevenueMinor - int64(math.Round(perUser*float64(arm.Audience)))
	}
	if cr > 0 {
		r.UpliftPercent = (r.Rate - cr) / cr * 100
	}
	r.NetIncrementalRevenueMinor = r.IncrementalRevenueMinor - arm.DiscountMinor
	return r
}
