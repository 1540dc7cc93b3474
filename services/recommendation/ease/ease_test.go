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

// wantUserScores was computed with numpy for the same matrix:
//
//	K = X @ X.T; P = np.linalg.inv(K + 2*np.eye(5))
//	C = -P / np.diag(P)[None, :]; np.fill_diagonal(C, 0); S = C.T @ X
var wantUserScores = [5][4]float64{
	{0.4615384615384617, 0.4423076923076924, 0.3846153846153847, -0.05769230769230768},
	{0.40191387559808617, 0.42583732057416274, 0.49282296650717716, 0.15311004784688995},
	{0.3945945945945946, 0.36756756756756753, 0.6864864864864866, 0.437837837837838},
	{0.26291079812206575, 0.05633802816901411, 0.5962441314553991, 0.38028169014084506},
	{0.5980861244019139, 0.69377990430622, 0.6267942583732058, 0.28708133971291866},
}

func TestFitUsersMatchesNumpy(t *testing.T) {
	t.Parallel()
	m, err := FitUsers(t.Context(), tiny(), Config{Lambda: 2}, 10)
	if err != nil {
		t.Fatalf("FitUsers: %v", err)
	}
	dst := make([]float64, 4)
	for u := range 5 {
		m.ScoreUser(u, dst)
		for j := range 4 {
			if math.Abs(dst[j]-wantUserScores[u][j]) > 1e-12 {
				t.Errorf("score[%d][%d]: got %v, want %v", u, j, dst[j], wantUserScores[u][j])
			}
		}
	}
	m.ScoreUser(-1, dst)
	for j, v := range dst {
		if v != 0 {
			t.Errorf("unknown user: score[%d] = %v, want 0", j, v)
		}
	}
	if _, err := FitUsers(t.Context(), tiny(), Config{}, 4); !errors.Is(err, ErrTooManyUsers) {
		t.Errorf("5 users with a limit of 4: got %v, want ErrTooManyUsers", err)
	}
}
