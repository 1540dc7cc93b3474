package segment_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/segment"
)

func compiler(t *testing.T) *segment.Compiler {
	t.Helper()
	c, err := segment.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var asOf = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func sample() *profilev1.Profile {
	return &profilev1.Profile{
		UserId:     "u1",
		AsOf:       timestamppb.New(asOf),
		LastSeen:   timestamppb.New(asOf.Add(-72 * time.Hour)),
		Consent:    map[string]bool{"email": true},
		Rfm:        &profilev1.Rfm{Tier: "At Risk", R: 2, F: 3, M: 3},
		Lifecycle:  &profilev1.Lifecycle{Stage: "at_risk"},
		Aggregates: &profilev1.Aggregates{D30: &profilev1.Window{LearningMinutes: 75, Orders: 2}},
		Interests:  &profilev1.Interests{Categories: map[string]float64{"data": 2.5, "design": 0.4}},
		Predictions: &predictionv1.Prediction{
			ChurnRisk: 0.2,
		},
		Demographics: &profilev1.Demographics{CityTier: "1", Interests: []string{"go"}},
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		rule string
		want bool
	}{
		{`p.rfm.tier == "At Risk" && p.aggregates.d30.learning_minutes > 60`, true},
		{`p.rfm.tier == "Champions"`, false},
		{`p.predictions.churn_risk < 0.3`, true},
		{`p.aggregates.d30.orders >= 2.0`, true},
		{`p.lifecycle.stage in ["at_risk", "dormant"]`, true},
		{`now - p.last_seen > duration("48h")`, true},
		{`now - p.last_seen > duration("96h")`, false},
		{`"email" in p.consent && p.consent["email"]`, true},
		{`p.consent["sms"]`, false}, // a missing key fails: no match
		{`p.interests.categories.exists(k, p.interests.categories[k] > 2.0)`, true},
		{`p.demographics.city_tier == "1" && "go" in p.demographics.interests`, true},
		{`has(p.last_purchase)`, false},
		{`p.rfm.r * 10 + p.rfm.f >= 23`, true},
	}
	for _, tt := range tests {
		r, err := c.Compile(tt.rule)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.rule, err)
			continue
		}
		if got, _ := r.Match(sample()); got != tt.want {
			t.Errorf("Match(%q): got %v, want %v", tt.rule, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		rule       string
		wantLine   int
		wantColumn int
	}{
		{`p.rfm.tier == `, 1, 15},
		{`p.nope > 1`, 1, 2},
		{`p.version`, 1, 1},
		{"true &&\n  q.x", 2, 3},
	}
	for _, tt := range tests {
		_, err := c.Compile(tt.rule)
		var re *segment.RuleError
		if !errors.As(err, &re) || !errors.Is(err, segment.ErrInvalidRule) || len(re.Issues) == 0 {
			t.Errorf("Compile(%q): got %v, want a RuleError", tt.rule, err)
			continue
		}
		if is := re.Issues[0]; is.Line != tt.wantLine || is.Column != tt.wantColumn || is.Message == "" {
			t.Errorf("Compile(%q): got issue %v, want at %d:%d", tt.rule, is, tt.wantLine, tt.wantColumn)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	reg := segment.NewRegistry(compiler(t))
	put := func(id, rule string, version int64) (bool, error) {
		return reg.Put(&profilev1.Segment{SegmentId: id, Rule: rule, Version: version})
	}
	changed := reg.Changed()
	if ok, err := put("b", `true`, 2); !ok || err != nil {
		t.Fatalf("Put b v2: got %v %v", ok, err)
	}
	select {
	case <-changed:
	default:
		t.Error("Changed not closed after a Put")
	}
	if ok, _ := put("b", `false`, 1); ok {
		t.Error("Put of an older version: got changed, want ignored")
	}
	if _, err := put("c", `p.`, 1); err == nil {
		t.Error("Put of a bad rule: got nil, want an error")
	}
	if ok, err := put("a", `p.rfm.tier == "At Risk"`, 1); !ok || err != nil {
		t.Fatalf("Put a: got %v %v", ok, err)
	}
	var ids []string
	for _, d := range reg.List() {
		ids = append(ids, d.Segment.GetSegmentId())
	}
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("List: got %v, want [a b]", ids)
	}
	results := segment.Evaluate(reg.List(), sample(), nil)
	if got := segment.Members(results); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Members: got %v, want [a b]", got)
	}
	if !reg.Delete("a") || reg.Delete("a") {
		t.Error("Delete: want true then false")
	}
	if _, ok := reg.Get("a"); ok {
		t.Error("Get after Delete: found")
	}
}
