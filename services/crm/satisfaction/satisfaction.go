// Package satisfaction scores customer satisfaction (满意度分析) from survey answers and
// ratings: NPS (0–10; promoters 9–10, detractors 0–6; NPS = % promoters − %
// detractors), CSAT (the % of 4–5 answers on 1–5), CES (the mean on 1–7) and the mean
// item rating (1–5), grouped by segment, RFM tier, item, creator or period, each with
// its response count. Detractor answers open follow-up tasks where the answers are
// consumed (package customer). The package is safe for concurrent use.
package satisfaction

import (
	"context"
	"fmt"
	"strconv"
	"time"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// NPS returns the net promoter score of n answers: % promoters − % detractors, from
// −100 to 100; 0 without answers.
func NPS(promoters, detractors, n int64) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(promoters-detractors) / float64(n)
}

// CSAT returns the % of satisfied answers (4 or 5 on 1–5); 0 without answers.
func CSAT(satisfied, n int64) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(satisfied) / float64(n)
}

// Mean returns sum/n; 0 without answers. CES and the rating are means.
func Mean(sum, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}

// Reader reads grouped answer counts; *store.Store implements it.
type Reader interface {
	Satisfaction(ctx context.Context, q store.SatisfactionQuery) ([]store.SatisfactionRow, error)
}

var dimensions = map[crmv1.SatisfactionDimension]string{
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_UNSPECIFIED: store.ByOverall,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_OVERALL:     store.ByOverall,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_SEGMENT:     store.BySegment,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_RFM_TIER:    store.ByRFMTier,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_ITEM:        store.ByItem,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_CREATOR:     store.ByCreator,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_DAY:         store.ByDay,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_WEEK:        store.ByWeek,
	crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_MONTH:       store.ByMonth,
}

// Report groups the answers in [from, to) (zero: unbounded) by dim.
func Report(ctx context.Context, r Reader, dim crmv1.SatisfactionDimension, from, to time.Time) (*crmv1.SatisfactionReport, error) {
	d, ok := dimensions[dim]
	if !ok {
		return nil, fmt.Errorf("satisfaction: unknown dimension %v", dim)
	}
	rows, err := r.Satisfaction(ctx, store.SatisfactionQuery{Dimension: d, From: from, To: to})
	if err != nil {
		return nil, fmt.Errorf("satisfaction: %w", err)
	}
	if dim == crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_UNSPECIFIED {
		dim = crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_OVERALL
	}
	out := &crmv1.SatisfactionReport{Dimension: dim}
	var cur *crmv1.SatisfactionGroup
	sums := map[string]int64{}
	flush := func() {
		if cur == nil {
			return
		}
		cur.Nps = NPS(cur.Promoters, cur.Detractors, cur.NpsResponses)
		cur.Csat = CSAT(cur.CsatSatisfied, cur.CsatResponses)
		cur.Ces = Mean(sums["ces"], cur.CesResponses)
		cur.RatingMean = Mean(sums["rating"], cur.Ratings)
		out.Groups = append(out.Groups, cur)
	}
	// Rows come ordered by key, then metric: one group per key.
	for _, row := range rows {
		key := keyOf(d, row.Key)
		if cur == nil || cur.Key != key {
			flush()
			cur, sums = &crmv1.SatisfactionGroup{Key: key}, map[string]int64{}
		}
		switch row.Metric {
		case "nps":
			cur.NpsResponses, cur.Promoters, cur.Detractors = row.Responses, row.Promoters, row.Detractors
			cur.Passives = row.Responses - row.Promoters - row.Detractors
		case "csat":
			cur.CsatResponses, cur.CsatSatisfied = row.Responses, row.Satisfied
		case "ces":
			cur.CesResponses, sums["ces"] = row.Responses, row.ScoreSum
		case "rating":
			cur.Ratings, sums["rating"] = row.Responses, row.ScoreSum
		}
	}
	flush()
	return out, nil
}

// keyOf renders a time key as a date: day numbers (day, week) as YYYY-MM-DD and YYYYMM
// as YYYY-MM; other keys as they are.
func keyOf(dim, key string) string {
	switch dim {
	case store.ByDay, store.ByWeek:
		if d, err := strconv.ParseInt(key, 10, 64); err == nil {
			return time.Unix(d*86400, 0).UTC().Format(time.DateOnly)
		}
	case store.ByMonth:
		if m, err := strconv.Atoi(key); err == nil {
			return fmt.Sprintf("%04d-%02d", m/100, m%100)
		}
	}
	return key
}
