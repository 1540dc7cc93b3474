// Package rfm scores users by recency, frequency and monetary value and names their tier.
// It is pure and safe for concurrent use.
//
// Values, as of a day: R is the number of days since the last purchase, F the number of
// orders in the last 365 days, M the net revenue (orders minus refunds) of the last 365
// days. The population is the users with at least one order in the last 365 days.
//
// Scores are quintiles over that population. [Calibrate] sorts each value and takes the
// nearest-rank 20th, 40th, 60th and 80th percentiles as four cut points; a user's F (and
// M) score is 1 plus the number of cut points strictly below the value, and the R score is
// 5 minus the number of cut points strictly below the recency (recent is good). Ties
// therefore fall in one bin, and the same population always gives the same boundaries,
// whichever instance computes them. Users who purchased only before the last 365 days are
// scored with the same boundaries (they land in the low bins).
//
// Tiers are matched in order against score ranges, first match wins, else [Others]; see
// [Standard].
package rfm

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Others is the tier of a scored user no rule matches.
const Others = "Others"

// Values are one user's RFM inputs.
type Values struct {
	// RecencyDays is the number of days since the last purchase.
	RecencyDays int64
	// Frequency is the number of orders in the last 365 days.
	Frequency int64
	// Monetary is the net revenue of the last 365 days, in minor units.
	Monetary int64
}

// Purchaser reports whether v belongs to the calibration population.
func (v Values) Purchaser() bool { return v.Frequency > 0 }

// Calibrate computes the quintile boundaries of the purchasers among values. It returns
// nil when there are none. Version and computed_at are left to the caller.
func Calibrate(values []Values) *profilev1.RfmBoundaries {
	var r, f, m []int64
	for _, v := range values {
		if !v.Purchaser() {
			continue
		}
		r = append(r, v.RecencyDays)
		f = append(f, v.Frequency)
		m = append(m, v.Monetary)
	}
	if len(r) == 0 {
		return nil
	}
	return &profilev1.RfmBoundaries{
		Recency:    cuts(r),
		Frequency:  cuts(f),
		Monetary:   cuts(m),
		Population: int64(len(r)),
	}
}

// cuts returns the nearest-rank 20/40/60/80th percentiles of xs (which it sorts).
func cuts(xs []int64) []int64 {
	slices.Sort(xs)
	n := len(xs)
	out := make([]int64, 4)
	for k := 1; k <= 4; k++ {
		rank := (k*n + 4) / 5 // ceil(k*n/5), 1-based
		out[k-1] = xs[rank-1]
	}
	return out
}

func above(v int64, cuts []int64) int32 {
	var n int32
	for _, c := range cuts {
		if v > c {
			n++
		}
	}
	return n
}

// Score returns the 1–5 scores of v under b, or zeros when b is nil or malformed.
func Score(v Values, b *profilev1.RfmBoundaries) (r, f, m int32) {
	if b == nil || len(b.GetRecency()) != 4 || len(b.GetFrequency()) != 4 || len(b.GetMonetary()) != 4 {
		return 0, 0, 0
	}
	return 5 - above(v.RecencyDays, b.GetRecency()), 1 + above(v.Frequency, b.GetFrequency()), 1 + above(v.Monetary, b.GetMonetary())
}

// Range is an inclusive range of scores.
type Range struct{ Min, Max int32 }

func (r Range) has(s int32) bool { return s >= r.Min && s <= r.Max }

// Rule names the tier of users whose scores fall in all three ranges.
type Rule struct {
	Tier    string
	R, F, M Range
}

// Standard is the standard tier table, in the order it is checked. Checked in order,
// New Customers and Promising are shadowed by Potential Loyalist, Can't Lose Them by At
// Risk and Lost by Hibernating: those four are never assigned (see [Reachable]).
var Standard = []Rule{
	{"Champions", Range{4, 5}, Range{4, 5}, Range{4, 5}},
	{"Loyal Customers", Range{2, 5}, Range{3, 5}, Range{3, 5}},
	{"Potential Loyalist", Range{3, 5}, Range{1, 3}, Range{1, 3}},
	{"New Customers", Range{4, 5}, Range{1, 1}, Range{1, 1}},
	{"Promising", Range{3, 4}, Range{1, 1}, Range{1, 1}},
	{"Need Attention", Range{2, 3}, Range{2, 3}, Range{2, 3}},
	{"About To Sleep", Range{2, 3}, Range{1, 2}, Range{1, 2}},
	{"At Risk", Range{1, 2}, Range{2, 5}, Range{2, 5}},
	{"Can't Lose Them", Range{1, 1}, Range{4, 5}, Range{4, 5}},
	{"Hibernating", Range{1, 2}, Range{1, 2}, Range{1, 2}},
	{"Lost", Range{1, 2}, Range{1, 2}, Range{1, 2}},
}

// Tier returns the first rule's tier matching the scores, Others when none does, and ""
// for unscored users (any score 0).
func Tier(rules []Rule, r, f, m int32) string {
	if r == 0 || f == 0 || m == 0 {
		return ""
	}
	for _, rule := range rules {
		if rule.R.has(r) && rule.F.has(f) && rule.M.has(m) {
			return rule.Tier
		}
	}
	return Others
}

// Reachable returns, for each tier of rules, how many of the 125 score combinations it is
// assigned; a tier with 0 is shadowed by earlier rules.
func Reachable(rules []Rule) map[string]int {
	out := map[string]int{Others: 0}
	for _, rule := range rules {
		out[rule.Tier] = 0
	}
	for r := int32(1); r <= 5; r++ {
		for f := int32(1); f <= 5; f++ {
			for m := int32(1); m <= 5; m++ {
				out[Tier(rules, r, f, m)]++
			}
		}
	}
	return out
}

// ScoreString formats the scores as three digits, e.g. "545".
func ScoreString(r, f, m int32) string {
	if r == 0 {
		return ""
	}
	return fmt.Sprintf("%d%d%d", r, f, m)
}

// Grid accumulates the R × F grid and the tier sizes of scored users.
type Grid struct {
	cells map[[2]int32]*profilev1.RfmCell
	tiers map[string]int64
}

// NewGrid returns an empty grid.
func NewGrid() *Grid {
	return &Grid{cells: map[[2]int32]*profilev1.RfmCell{}, tiers: map[string]int64{}}
}

// Add counts one scored user.
func (g *Grid) Add(rfm *profilev1.Rfm) {
	if rfm.GetR() == 0 {
		return
	}
	k := [2]int32{rfm.GetR(), rfm.GetF()}
	c := g.cells[k]
	if c == nil {
		c = &profilev1.RfmCell{R: rfm.GetR(), F: rfm.GetF()}
		g.cells[k] = c
	}
	c.Users++
	c.RevenueMinor += rfm.GetMonetaryMinor()
	g.tiers[rfm.GetTier()]++
}

// Proto returns the grid with all 25 cells, ordered by R then F.
func (g *Grid) Proto(b *profilev1.RfmBoundaries, currency string, computedAt time.Time) *profilev1.RfmGrid {
	out := &profilev1.RfmGrid{Tiers: map[string]int64{}, Boundaries: b, Currency: currency}
	for r := int32(1); r <= 5; r++ {
		for f := int32(1); f <= 5; f++ {
			c := g.cells[[2]int32{r, f}]
			if c == nil {
				c = &profilev1.RfmCell{R: r, F: f}
			}
			out.Cells = append(out.Cells, c)
		}
	}
	for k, v := range g.tiers {
		out.Tiers[k] = v
	}
	if b != nil && b.ComputedAt == nil {
		b.ComputedAt = timestamppb.New(computedAt)
	}
	return out
}
