package clv

import (
	"math"
	"slices"
	"time"
)

// Week is the time unit of the published CDNOW results.
const Week = 7 * 24 * time.Hour

// Purchase is one dated purchase of a customer.
type Purchase struct {
	Time   time.Time
	Amount float64
}

// Customer is what the models need to know about one customer.
type Customer struct {
	Summary
	// MeanSpend is the mean value of the repeat transactions (0 when X is 0).
	MeanSpend float64
}

// Summarize summarises a customer's purchases up to and including the calendar day of
// end (UTC), in units of unit. Purchases on the same day are one transaction whose
// value is their sum; the first transaction day is not a repeat. It reports false when
// no purchase falls in the window. The purchases need not be sorted.
func Summarize(purchases []Purchase, end time.Time, unit time.Duration) (Customer, bool) {
	endDay := dayNumber(end)
	byDay := map[int64]float64{}
	for _, p := range purchases {
		if d := dayNumber(p.Time); d <= endDay {
			byDay[d] += p.Amount
		}
	}
	if len(byDay) == 0 {
		return Customer{}, false
	}
	days := make([]int64, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	perUnit := float64(24*time.Hour) / float64(unit)
	first, last := days[0], days[len(days)-1]
	c := Customer{Summary: Summary{
		X:  float64(len(days) - 1),
		TX: float64(last-first) * perUnit,
		T:  float64(endDay-first) * perUnit,
	}}
	if c.X > 0 {
		var sum float64
		for _, d := range days[1:] {
			sum += byDay[d]
		}
		c.MeanSpend = sum / c.X
	}
	return c, true
}

func dayNumber(t time.Time) int64 {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Valuation turns fitted models into a customer lifetime value.
type Valuation struct {
	BGNBD      BGNBD
	GammaGamma GammaGamma
	// Months is the horizon; default 12.
	Months int
	// MonthlyDiscount is the discount rate per month (0.01 is about 12.7% a year).
	MonthlyDiscount float64
	// UnitsPerMonth is how many of the summaries' time units make a month; default
	// weeks (365.25/12/7).
	UnitsPerMonth float64
}

// CLV returns the discounted expected value of the customer's transactions over the
// horizon: the expected purchases of each month times the expected spend per
// transaction, discounted to today.
func (v Valuation) CLV(c Customer) float64 {
	return v.DiscountedPurchases(c.Summary) * v.GammaGamma.ExpectedSpend(c.X, c.MeanSpend)
}

// DiscountedPurchases returns the expected purchases over the horizon, each month's
// discounted to today: CLV is this times the expected spend per transaction.
func (v Valuation) DiscountedPurchases(s Summary) float64 {
	months := v.Months
	if months <= 0 {
		months = 12
	}
	upm := v.UnitsPerMonth
	if upm <= 0 {
		upm = 365.25 / 12 / 7
	}
	var total, prev float64
	for i := 1; i <= months; i++ {
		cum := v.BGNBD.ExpectedPurchases(s, float64(i)*upm)
		total += (cum - prev) / math.Pow(1+v.MonthlyDiscount, float64(i))
		prev = cum
	}
	return total
}
