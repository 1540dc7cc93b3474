package hybrid

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/metric"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// fixed scores every user the same.
type fixed []float64

func (f fixed) Score(_ int, _ []int32, _ []float64, dst []float64) { copy(dst, f) }

// oracle scores the items of a per-user answer key (keyed by the first history item).
type oracle map[int32][]int32

func (o oracle) Score(_ int, items []int32, _ []float64, dst []float64) {
	clear(dst)
	for r, j := range o[items[0]] {
		dst[j] = float64(10 - r)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for name, w := range map[string][]float64{"zero": {0, 0}, "negative": {1, -1}, "NaN": {math.NaN(), 1}, "count": {1}} {
		if _, err := New(3, []Scorer{fixed{}, fixed{}}, w); !errors.Is(err, ErrNoComponents) {
			t.Errorf("%s weights: got %v, want ErrNoComponents", name, err)
		}
	}
}

func TestScoreScalesEachComponent(t *testing.T) {
	t.Parallel()
	m, err := New(3, []Scorer{fixed{2, 0, -1}, fixed{0, 10, 5}}, []float64{0.5, 0.5})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	dst := make([]float64, 3)
	m.Score(0, nil, nil, dst)
	// (2,0,−1)/2·0.5 + (0,10,5)/10·0.5
	if want := []float64{0.5, 0.5, 0}; !reflect.DeepEqual(dst, want) {
		t.Errorf("got %v, want %v", dst, want)
	}
}

func TestLearnWeightsFindsTheUsefulComponent(t *testing.T) {
	t.Parallel()
	// Six items; users 0 and 1 (history = their id) like items 4, 5 and 2, 3.
	val := []Example{
		{Items: []int32{0}, Weights: []float64{1}, Relevant: metric.SetOf[int32](4, 5)},
		{Items: []int32{1}, Weights: []float64{1}, Relevant: metric.SetOf[int32](2, 3)},
	}
	useful := oracle{0: {4, 5}, 1: {2, 3}}
	misleading := fixed{0, 0, 9, 8, 1, 1} // right for user 1, wrong for user 0
	w, ndcg, err := LearnWeights(t.Context(), 6, []Scorer{misleading, useful}, val, 2, 0.5)
	if err != nil {
		t.Fatalf("LearnWeights: %v", err)
	}
	if want := []float64{0, 1}; !reflect.DeepEqual(w, want) {
		t.Errorf("weights: got %v, want %v", w, want)
	}
	if ndcg != 1 {
		t.Errorf("validation nDCG: got %v, want 1", ndcg)
	}
}

func TestSimplex(t *testing.T) {
	t.Parallel()
	if got, want := len(simplex(3, 10)), 66; got != want {
		t.Errorf("points of the 3-simplex at step 0.1: got %d, want %d", got, want)
	}
	if got, want := simplex(2, 2), [][]int{{0, 2}, {1, 1}, {2, 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("simplex(2,2): got %v, want %v", got, want)
	}
}

// TestTuneSmall runs the whole procedure on a small synthetic catalogue: two taste groups
// of users, each liking one half of the items.
func TestTuneSmall(t *testing.T) {
	t.Parallel()
	var rs []interactions.Rating
	for u := range 40 {
		for i := range 12 {
			if (i < 6) == (u%2 == 0) && (u+i)%3 != 0 {
				rs = append(rs, interactions.Rating{User: string(rune('A' + u)), Item: string(rune('a' + i)), Value: 1})
			}
		}
	}
	x := interactions.BinaryMatrix(rs)
	m, res, err := Tune(t.Context(), x, rs, TuneConfig{Lambdas: []float64{1, 10}, Seed: 1, K: 3, ValidationUsers: 1, ValidationRatio: 0.25,
		ALS: als.Config{Factors: 4, Lambda: 0.1}})
	if err != nil {
		t.Fatalf("Tune: %v", err)
	}
	if len(res.LambdaNDCG) != 2 || res.Lambda <= 0 || len(res.UserLambdaNDCG) != 3 || res.UserLambda <= 0 || len(res.Weights) != 4 {
		t.Fatalf("result: got %+v, want two item λ and three user λ tried, and four weights", res)
	}
	// ALS was tried at every weight of the grid, and joins only if it beat the blend.
	if len(res.ALSNDCG) != len(DefaultALSWeights) {
		t.Errorf("ALS: got %v tried, want the %d weights of DefaultALSWeights", res.ALSNDCG, len(DefaultALSWeights))
	}
	if res.ALSWeight > 0 && res.ValidationNDCG != res.ALSNDCG[res.ALSWeight] {
		t.Errorf("ALS joined with weight %g but the blend's validation nDCG %v is not its %v", res.ALSWeight, res.ValidationNDCG, res.ALSNDCG[res.ALSWeight])
	}
	if _, res, err := Tune(t.Context(), x, rs, TuneConfig{Lambdas: []float64{1}, Seed: 1, K: 3, ValidationRatio: 0.25, SkipALS: true}); err != nil || res.ALSNDCG != nil || res.ALSWeight != 0 {
		t.Errorf("Tune with SkipALS: got %+v, %v; want no ALS tried", res, err)
	}
	if _, _, err := Tune(t.Context(), x, rs, TuneConfig{ValidationRatio: 0.1}); !errors.Is(err, ErrNoValidation) {
		t.Errorf("Tune with 4 ratings a user and a 10%% validation split: got %v, want ErrNoValidation", err)
	}
	// A user of the first group, who has not seen a and d, gets them first.
	u, _ := x.Users().Index("A")
	items, ws := x.Row(int(u))
	dst := make([]float64, x.NumItems())
	m.Score(int(u), items, ws, dst)
	seen := map[int32]bool{}
	for _, i := range items {
		seen[i] = true
	}
	var got []string
	for _, j := range topk.Select(dst, 2, func(j int32) bool { return seen[j] }) {
		got = append(got, x.Items().ID(j))
	}
	slices.Sort(got)
	if want := []string{"a", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("top 2 for user A: got %v, want %v (tuned %s)", got, want, res)
	}
}

func TestWithExtra(t *testing.T) {
	t.Parallel()
	if got, want := withExtra([]float64{0.5, 0.5, 0, 0}, 0.2), []float64{0.4, 0.4, 0, 0, 0.2}; !reflect.DeepEqual(got, want) {
		t.Errorf("withExtra: got %v, want %v", got, want)
	}
}
