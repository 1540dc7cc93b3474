package rfm_test

import (
	"slices"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/rfm"
)

// population: ten purchasers with two users per recency and monetary quintile, and one
// user whose only purchase is older than a year.
var population = []rfm.Values{
	{RecencyDays: 0, Frequency: 8, Monetary: 1000},
	{RecencyDays: 1, Frequency: 5, Monetary: 900},
	{RecencyDays: 2, Frequency: 4, Monetary: 800},
	{RecencyDays: 3, Frequency: 3, Monetary: 700},
	{RecencyDays: 5, Frequency: 2, Monetary: 600},
	{RecencyDays: 8, Frequency: 2, Monetary: 500},
	{RecencyDays: 13, Frequency: 1, Monetary: 400},
	{RecencyDays: 21, Frequency: 1, Monetary: 300},
	{RecencyDays: 34, Frequency: 1, Monetary: 200},
	{RecencyDays: 55, Frequency: 1, Monetary: 100},
	{RecencyDays: 400, Frequency: 0, Monetary: 0},
}

func TestCalibrate(t *testing.T) {
	t.Parallel()
	b := rfm.Calibrate(slices.Clone(population))
	// Nearest rank of 10 values: the 2nd, 4th, 6th and 8th smallest.
	want := &profilev1.RfmBoundaries{
		Recency:    []int64{1, 3, 8, 21},
		Frequency:  []int64{1, 1, 2, 4},
		Monetary:   []int64{200, 400, 600, 800},
		Population: 10,
	}
	if !proto.Equal(b, want) {
		t.Errorf("Calibrate: got %v, want %v", b, want)
	}
	// The order of the input does not matter.
	rev := slices.Clone(population)
	slices.Reverse(rev)
	if got := rfm.Calibrate(rev); !proto.Equal(got, want) {
		t.Errorf("Calibrate(reversed): got %v, want %v", got, want)
	}
	if got := rfm.Calibrate([]rfm.Values{{RecencyDays: 500}}); got != nil {
		t.Errorf("Calibrate(no purchasers): got %v, want nil", got)
	}
}

func TestCalibrateSmallPopulations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    []int64
		want []int64
	}{
		{[]int64{7}, []int64{7, 7, 7, 7}},
		{[]int64{1, 2}, []int64{1, 1, 2, 2}},
		{[]int64{3, 1, 2}, []int64{1, 2, 2, 3}},
		{[]int64{1, 2, 3, 4, 5}, []int64{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		var vs []rfm.Values
		for _, f := range tt.f {
			vs = append(vs, rfm.Values{Frequency: f})
		}
		if got := rfm.Calibrate(vs).GetFrequency(); !slices.Equal(got, tt.want) {
			t.Errorf("frequency cuts of %v: got %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestScore(t *testing.T) {
	t.Parallel()
	b := rfm.Calibrate(slices.Clone(population))
	want := [][3]int32{
		{5, 5, 5}, {5, 5, 5}, {4, 4, 4}, {4, 4, 4}, {3, 3, 3},
		{3, 3, 3}, {2, 1, 2}, {2, 1, 2}, {1, 1, 1}, {1, 1, 1},
		{1, 1, 1},
	}
	for i, v := range population {
		r, f, m := rfm.Score(v, b)
		if got := [3]int32{r, f, m}; got != want[i] {
			t.Errorf("Score(%+v): got %v, want %v", v, got, want[i])
		}
	}
	if r, f, m := rfm.Score(population[0], nil); r != 0 || f != 0 || m != 0 {
		t.Errorf("Score without boundaries: got %d%d%d, want 000", r, f, m)
	}
}

func TestTier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r, f, m int32
		want    string
	}{
		{5, 5, 5, "Champions"},
		{4, 4, 4, "Champions"},
		{5, 3, 3, "Loyal Customers"},
		{2, 5, 5, "Loyal Customers"},
		{3, 1, 1, "Potential Loyalist"},
		{5, 1, 1, "Potential Loyalist"}, // would be New Customers, which comes later
		{5, 3, 2, "Potential Loyalist"},
		{2, 2, 3, "Need Attention"},
		{2, 3, 2, "Need Attention"},
		{2, 1, 2, "About To Sleep"},
		{2, 2, 1, "About To Sleep"},
		{1, 2, 2, "At Risk"},
		{1, 5, 5, "At Risk"}, // would be Can't Lose Them, which comes later
		{2, 4, 2, "At Risk"},
		{1, 1, 1, "Hibernating"},
		{1, 2, 1, "Hibernating"},
		{5, 5, 1, rfm.Others},
		{3, 4, 2, rfm.Others},
		{1, 1, 5, rfm.Others},
		{0, 0, 0, ""},
	}
	for _, tt := range tests {
		if got := rfm.Tier(rfm.Standard, tt.r, tt.f, tt.m); got != tt.want {
			t.Errorf("Tier(%d%d%d): got %q, want %q", tt.r, tt.f, tt.m, got, tt.want)
		}
	}
}

// TestStandardTableShadows records what checking the standard table in order implies:
// four tiers are never assigned, because an earlier rule covers all their scores.
func TestStandardTableShadows(t *testing.T) {
	t.Parallel()
	reach := rfm.Reachable(rfm.Standard)
	var shadowed []string
	total := 0
	for tier, n := range reach {
		total += n
		if n == 0 {
			shadowed = append(shadowed, tier)
		}
	}
	sort.Strings(shadowed)
	if want := []string{"Can't Lose Them", "Lost", "New Customers", "Promising"}; !slices.Equal(shadowed, want) {
		t.Errorf("shadowed tiers: got %v, want %v", shadowed, want)
	}
	if total != 125 {
		t.Errorf("score combinations: got %d, want 125", total)
	}
	// A table with the specific tiers first reaches every tier but Lost, whose ranges are
	// those of Hibernating.
	specific := []rfm.Rule{rfm.Standard[0], rfm.Standard[8], rfm.Standard[3], rfm.Standard[4], rfm.Standard[1], rfm.Standard[2],
		rfm.Standard[5], rfm.Standard[6], rfm.Standard[7], rfm.Standard[9], rfm.Standard[10]}
	for tier, n := range rfm.Reachable(specific) {
		if (n == 0) != (tier == "Lost") {
			t.Errorf("specific-first table: tier %q assigned %d times", tier, n)
		}
	}
}

func TestGrid(t *testing.T) {
	t.Parallel()
	b := rfm.Calibrate(slices.Clone(population))
	g := rfm.NewGrid()
	for _, v := range population {
		r, f, m := rfm.Score(v, b)
		g.Add(&profilev1.Rfm{R: r, F: f, M: m, MonetaryMinor: v.Monetary, Tier: rfm.Tier(rfm.Standard, r, f, m)})
	}
	g.Add(&profilev1.Rfm{}) // unscored: left out
	out := g.Proto(b, "CNY", b.GetComputedAt().AsTime())
	if got, want := len(out.GetCells()), 25; got != want {
		t.Fatalf("cells: got %d, want %d", got, want)
	}
	cell := func(r, f int32) *profilev1.RfmCell { return out.GetCells()[(r-1)*5+(f-1)] }
	tests := []struct {
		r, f         int32
		users, money int64
	}{
		{5, 5, 2, 1900}, {4, 4, 2, 1500}, {3, 3, 2, 1100}, {2, 1, 2, 700}, {1, 1, 3, 300}, {1, 5, 0, 0},
	}
	for _, tt := range tests {
		c := cell(tt.r, tt.f)
		if c.GetR() != tt.r || c.GetF() != tt.f || c.GetUsers() != tt.users || c.GetRevenueMinor() != tt.money {
			t.Errorf("cell R%d F%d: got %v, want %d users %d revenue", tt.r, tt.f, c, tt.users, tt.money)
		}
	}
	wantTiers := map[string]int64{"Champions": 4, "Loyal Customers": 2, "About To Sleep": 2, "Hibernating": 3}
	if len(out.GetTiers()) != len(wantTiers) {
		t.Errorf("tiers: got %v, want %v", out.GetTiers(), wantTiers)
	}
	for k, v := range wantTiers {
		if out.GetTiers()[k] != v {
			t.Errorf("tier %q: got %d, want %d", k, out.GetTiers()[k], v)
		}
	}
}
