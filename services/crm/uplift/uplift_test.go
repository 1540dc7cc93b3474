package uplift_test

import (
	"math"
	"testing"

	"github.com/stratahq/strata/services/crm/uplift"
)

// The reference values were computed once with Python 3.11 and scipy 1.17.1:
//
//	from math import sqrt
//	from scipy.stats import norm
//	p1, p2, p = x1/n1, x2/n2, (x1+x2)/(n1+n2)
//	z = (p1-p2) / sqrt(p*(1-p)*(1/n1+1/n2))
//	p_value = 2*norm.sf(abs(z))
//	half = norm.ppf(0.975) * sqrt(p1*(1-p1)/n1 + p2*(1-p2)/n2)
//	ci = (p1-p2-half, p1-p2+half)
var references = []struct {
	x1, n1, x2, n2      int64
	z, p, ciLow, ciHigh float64
}{
	{120, 1000, 90, 1000, 2.1882658846227234, 0.028650240398448473, 0.003162087844242642, 0.056837912155757356},
	{45, 2000, 30, 1800, 1.2908211492587194, 0.19676570236959134, -0.0029541741576536874, 0.014620840824320353},
	{530, 10000, 25, 500, 0.29258497562060304, 0.7698393991789017, -0.016601511521637507, 0.0226015115216375},
	{7, 60, 9, 55, -0.7270195003171817, 0.46721401008841323, -0.17407977926625942, 0.08014038532686549},
	{0, 100, 3, 100, -1.74518918148945, 0.08095194377738094, -0.06343448095637183, 0.0034344809563718257},
	{1500, 50000, 1200, 50000, 5.853059681876017, 4.8261084074008076e-09, 0.003991175552228924, 0.008008824447771073},
}

func TestTwoProportionMatchesScipy(t *testing.T) {
	t.Parallel()
	const tol = 1e-6
	for _, r := range references {
		got := uplift.TwoProportion(r.x1, r.n1, r.x2, r.n2)
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"z", got.Z, r.z}, {"p-value", got.PValue, r.p}, {"ci low", got.CILow, r.ciLow}, {"ci high", got.CIHigh, r.ciHigh}} {
			if math.Abs(c.got-c.want) > tol {
				t.Errorf("%d/%d vs %d/%d %s: got %.12g, want %.12g", r.x1, r.n1, r.x2, r.n2, c.name, c.got, c.want)
			}
		}
	}
}

func TestTwoProportionDegenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		x1, n1, x2, n2 int64
		want           uplift.Test
	}{
		{"empty arm", 0, 0, 5, 10, uplift.Test{PValue: 1}},
		{"empty control", 5, 10, 0, 0, uplift.Test{PValue: 1}},
		{"nobody converted", 0, 10, 0, 10, uplift.Test{PValue: 1}},
		{"everybody converted", 10, 10, 20, 20, uplift.Test{PValue: 1}},
	}
	for _, tt := range tests {
		if got := uplift.TwoProportion(tt.x1, tt.n1, tt.x2, tt.n2); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	arm := uplift.Counts{Name: "a", Audience: 1000, Conversions: 120, RevenueMinor: 1_200_000, DiscountMinor: 100_000}
	control := uplift.Counts{Name: "control", Audience: 500, Conversions: 45, RevenueMinor: 400_000}
	got := uplift.Evaluate(arm, control)
	// Control: 9 % and 800 per user; at that rate the arm would have had 90 conversions
	// and 800,000 revenue.
	if got.Rate != 0.12 {
		t.Errorf("rate: got %v, want 0.12", got.Rate)
	}
	if math.Abs(got.IncrementalConversions-30) > 1e-9 {
		t.Errorf("incremental conversions: got %v, want 30", got.IncrementalConversions)
	}
	if got.IncrementalRevenueMinor != 400_000 || got.NetIncrementalRevenueMinor != 300_000 {
		t.Errorf("incremental revenue: got %d net %d, want 400000 net 300000", got.IncrementalRevenueMinor, got.NetIncrementalRevenueMinor)
	}
	if math.Abs(got.UpliftPercent-100.0/3) > 1e-9 {
		t.Errorf("uplift: got %v%%, want 33.33%%", got.UpliftPercent)
	}
	if want := uplift.TwoProportion(120, 1000, 45, 500); got.Test != want {
		t.Errorf("test: got %+v, want %+v", got.Test, want)
	}
	if got := uplift.Evaluate(arm, uplift.Counts{}); got.UpliftPercent != 0 || got.IncrementalRevenueMinor != 0 || got.PValue != 1 {
		t.Errorf("against an empty control: got %+v, want no uplift, no increment, p 1", got)
	}
}
