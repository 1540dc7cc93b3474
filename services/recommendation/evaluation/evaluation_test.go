package evaluation

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/split"
)

// groups returns ratings of two taste groups: even users like items i0–i9, odd users
// i10–i19, each user missing a few, and everyone rated the blockbuster "top".
func groups(users int) []interactions.Rating {
	var rs []interactions.Rating
	for u := range users {
		for i := range 10 {
			item := i
			if u%2 == 1 {
				item += 10
			}
			if (u+i)%4 != 0 {
				rs = append(rs, interactions.Rating{User: fmt.Sprintf("u%02d", u), Item: fmt.Sprintf("i%d", item), Value: 4, Time: int64(i)})
			}
		}
		rs = append(rs, interactions.Rating{User: fmt.Sprintf("u%02d", u), Item: "top", Value: 5, Time: 100})
	}
	return rs
}

func TestRunPersonalisedModelsBeatPopularity(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.K = 3
	cfg.EASE.Lambda = 5
	cfg.Hybrid.Lambdas = []float64{1, 5}
	cfg.Hybrid.ValidationRatio = 0.25
	cfg.ALS = als.Config{Factors: 4, Lambda: 0.1}
	cfg.Hybrid.ALS = cfg.ALS
	rep, err := Run(t.Context(), groups(40), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := len(rep.Results), 5; got != want {
		t.Fatalf("results: got %d, want %d", got, want)
	}
	if rep.TestUsers != 40 || rep.Users != 40 {
		t.Errorf("users: got %d test of %d, want 40 of 40", rep.TestUsers, rep.Users)
	}
	byModel := map[string]Result{}
	for _, r := range rep.Results {
		byModel[r.Model] = r
		if r.NDCG < 0 || r.NDCG > 1 || r.Precision < 0 || r.Precision > 1 || r.Coverage <= 0 {
			t.Errorf("%s: scores out of range: %+v", r.Model, r)
		}
	}
	for _, m := range []string{ModelItemKNN, ModelEASE, ModelALS, ModelHybrid} {
		if got, pop := byModel[m].NDCG, byModel[ModelPopularity].NDCG; got <= pop {
			t.Errorf("%s nDCG@3 %v, want above popularity's %v", m, got, pop)
		}
	}
	again, err := Run(t.Context(), groups(40), cfg)
	if err != nil {
		t.Fatalf("Run again: %v", err)
	}
	for i := range rep.Results {
		a, b := rep.Results[i], again.Results[i]
		a.TrainTime, a.EvalTime, b.TrainTime, b.EvalTime = 0, 0, 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Errorf("run is not deterministic: %+v then %+v", a, b)
		}
	}
}

func TestRunTemporal(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Protocol, cfg.K, cfg.Models = split.ProtocolTemporal, 3, []string{ModelPopularity}
	rep, err := Run(t.Context(), groups(10), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Each user holds out two ratings, the latest: "top" and the latest group item, which
	// is i9 or i19 for every user who rated it; none of the three is a training item.
	if got, want := rep.Items, 18; got != want {
		t.Errorf("training items: got %d, want %d (top, i9 and i19 held out)", got, want)
	}
	if got, want := rep.TestRatings, 20; got != want {
		t.Errorf("test ratings: got %d, want %d", got, want)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	if _, err := Run(t.Context(), nil, cfg); !errors.Is(err, ErrNoRatings) {
		t.Errorf("no ratings: got %v, want ErrNoRatings", err)
	}
	cfg.Models = []string{"bpr"}
	if _, err := Run(t.Context(), groups(4), cfg); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown model: got %v, want ErrUnknownModel", err)
	}
	cfg = DefaultConfig()
	cfg.K = 0
	if _, err := Run(t.Context(), groups(4), cfg); !errors.Is(err, ErrBadK) {
		t.Errorf("k=0: got %v, want ErrBadK", err)
	}
}

func TestRecommendExcludesSeenAndFallsBack(t *testing.T) {
	t.Parallel()
	rs := groups(20)
	cfg := DefaultConfig()
	cfg.K = 3
	lists, err := Recommend(t.Context(), rs, ModelItemKNN, []string{"u00", "stranger"}, cfg)
	if err != nil {
		t.Fatalf("Recommend: %v", err)
	}
	// u00 (even group) misses i0, i4 and i8: exactly the items it should get.
	if got, want := lists[0], []string{"i0", "i4", "i8"}; !sameSet(got, want) {
		t.Errorf("u00: got %v, want %v in any order", got, want)
	}
	// A user without ratings gets the most popular items, "top" first.
	if got := lists[1]; len(got) != 3 || got[0] != "top" {
		t.Errorf("stranger: got %v, want 3 items starting with top", got)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}
