package ease

import (
	"errors"
	"math"
	"testing"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// tiny is the 5 × 4 matrix of the numpy reference below.
func tiny() *interactions.Matrix {
	rows := [][]int{{1, 1, 0, 0}, {0, 1, 1, 0}, {1, 0, 1, 1}, {0, 0, 1, 1}, {1, 1, 1, 0}}
	b := interactions.NewBuilderWith(interactions.NewDict(), interactions.DictOf("0", "1", "2", "3"))
	for u, row := range rows {
		for i, v := range row {
			if v == 1 {
				b.Add(string(rune('a'+u)), string(rune('0'+i)), 1)
			}
		}
	}
	return b.Build()
}

// wantB was computed with numpy:
//
//	G = X.T @ X; P = np.linalg.inv(G + 2*np.eye(4))
//	B = -P / np.diag(P)[None, :]; np.fill_diagonal(B, 0)
var wantB = [4][4]float64{
	{0.0, 0.3255813953488373, 0.17721518987341775, 0.13725490196078433},
	{0.3333333333333333, 0.0, 0.3291139240506329, -0.19607843137254902},
	{0.16666666666666669, 0.3023255813953488, 0.0, 0.3529411764705882},
	{0.16666666666666666, -0.23255813953488372, 0.45569620253164556, 0.0},
}

func TestFitMatchesNumpy(t *testing.T) {
	t.Parallel()
	m, err := Fit(t.Context(), tiny(), Config{Lambda: 2})
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	for i := range 4 {
		for j := range 4 {
			if got, want := m.Weight(i, j), wantB[i][j]; math.Abs(got-want) > 1e-12 {
				t.Errorf("B[%d][%d]: got %v, want %v", i, j, got, want)
			}
		}
	}
	// User a's history {0, 1}: the score is row 0 + row 1 of B (numpy: X[0] @ B).
	dst := make([]float64, 4)
	m.Score([]int32{0, 1}, []float64{1, 1}, dst)
	want := []float64{0.3333333333333333, 0.3255813953488373, 0.5063291139240507, -0.05882352941176469}
	for j := range dst {
		if math.Abs(dst[j]-want[j]) > 1e-12 {
			t.Errorf("score[%d]: got %v, want %v", j, dst[j], want[j])
		}
	}
}

func TestFitRejectsNegativeLambda(t *testing.T) {
	t.Parallel()
	if _, err := Fit(t.Context(), tiny(), Config{Lambda: -1}); !errors.Is(err, ErrBadLambda) {
		t.Errorf("got %v, want ErrBadLambda", err)
	}
}

func TestFitStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := contextCancelled(t)
	defer cancel()
	if _, err := Fit(ctx, tiny(), Config{}); err == nil {
		t.Errorf("Fit with a cancelled context: got nil error")
	}
}
