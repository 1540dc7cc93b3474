package satisfaction_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/satisfaction"
	"github.com/stratahq/strata/services/crm/store"
)

func TestScores(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		got, want float64
	}{
		{"NPS 50/20 of 100", satisfaction.NPS(50, 20, 100), 30},
		{"NPS all detractors", satisfaction.NPS(0, 8, 8), -100},
		{"NPS no answers", satisfaction.NPS(0, 0, 0), 0},
		{"CSAT 3 of 4", satisfaction.CSAT(3, 4), 75},
		{"CSAT no answers", satisfaction.CSAT(0, 0), 0},
		{"CES mean", satisfaction.Mean(11, 2), 5.5},
		{"mean no answers", satisfaction.Mean(0, 0), 0},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-12 {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

type rows struct {
	q   store.SatisfactionQuery
	out []store.SatisfactionRow
}

func (r *rows) Satisfaction(_ context.Context, q store.SatisfactionQuery) ([]store.SatisfactionRow, error) {
	r.q = q
	return r.out, nil
}

func TestReportGroupsAndDates(t *testing.T) {
	t.Parallel()
	day := int64(store.Day(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)))
	r := &rows{out: []store.SatisfactionRow{
		{Key: itoa(day), Metric: "ces", Responses: 2, ScoreSum: 9},
		{Key: itoa(day), Metric: "nps", Responses: 4, Promoters: 2, Detractors: 1},
		{Key: itoa(day + 7), Metric: "csat", Responses: 5, Satisfied: 4},
		{Key: itoa(day + 7), Metric: "rating", Responses: 3, ScoreSum: 12},
	}}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rep, err := satisfaction.Report(context.Background(), r, crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_WEEK, from, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r.q.Dimension != store.ByWeek || !r.q.From.Equal(from) {
		t.Errorf("query: got %+v", r.q)
	}
	if len(rep.GetGroups()) != 2 {
		t.Fatalf("groups: got %d, want 2", len(rep.GetGroups()))
	}
	g := rep.GetGroups()[0]
	if g.GetKey() != "2026-11-02" || g.GetNpsResponses() != 4 || g.GetPassives() != 1 || g.GetNps() != 25 || g.GetCes() != 4.5 {
		t.Errorf("first week: got %v", g)
	}
	g = rep.GetGroups()[1]
	if g.GetKey() != "2026-11-09" || g.GetCsat() != 80 || g.GetRatingMean() != 4 || g.GetNpsResponses() != 0 {
		t.Errorf("second week: got %v", g)
	}

	r.out = []store.SatisfactionRow{{Key: "202611", Metric: "nps", Responses: 1, Promoters: 1}}
	rep, _ = satisfaction.Report(context.Background(), r, crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_MONTH, time.Time{}, time.Time{})
	if got := rep.GetGroups()[0].GetKey(); got != "2026-11" {
		t.Errorf("month key: got %q, want 2026-11", got)
	}
	rep, _ = satisfaction.Report(context.Background(), r, crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_UNSPECIFIED, time.Time{}, time.Time{})
	if rep.GetDimension() != crmv1.SatisfactionDimension_SATISFACTION_DIMENSION_OVERALL || r.q.Dimension != store.ByOverall {
		t.Errorf("unspecified dimension: got %v / %q, want overall", rep.GetDimension(), r.q.Dimension)
	}
	if _, err := satisfaction.Report(context.Background(), r, crmv1.SatisfactionDimension(99), time.Time{}, time.Time{}); err == nil {
		t.Errorf("unknown dimension: got nil error")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
