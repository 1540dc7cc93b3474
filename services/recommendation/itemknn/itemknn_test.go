package itemknn

import (
	"math"
	"reflect"
	"testing"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// matrix: u1 {a, b}, u2 {a, b, c}, u3 {b, c}. By hand: ‖a‖ = √2, ‖b‖ = √3, ‖c‖ = √2;
// co(a,b) = 2, co(a,c) = 1, co(b,c) = 2; so sim(a,b) = sim(b,c) = 2/√6, sim(a,c) = 1/2.
func matrix() *interactions.Matrix {
	b := interactions.NewBuilder()
	for _, p := range [][2]string{{"u1", "a"}, {"u1", "b"}, {"u2", "a"}, {"u2", "b"}, {"u2", "c"}, {"u3", "b"}, {"u3", "c"}} {
		b.Add(p[0], p[1], 1)
	}
	return b.Build()
}

const a, b, c = 0, 1, 2

var sab = 2 / math.Sqrt(6)

func close32(got []float32, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			return false
		}
	}
	return true
}

func TestFitAllNeighbours(t *testing.T) {
	t.Parallel()
	m, err := Fit(t.Context(), matrix(), Config{})
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	items, sims := m.Similar(a)
	if want := []int32{b, c}; !reflect.DeepEqual(items, want) {
		t.Errorf("Similar(a) items: got %v, want %v", items, want)
	}
	if want := []float64{sab, 0.5}; !close32(sims, want) {
		t.Errorf("Similar(a) sims: got %v, want %v", sims, want)
	}
	dst := make([]float64, 3)
	m.Score([]int32{a}, []float64{1}, dst)
	if want := []float64{0, sab, 0.5}; math.Abs(dst[1]-want[1]) > 1e-6 || math.Abs(dst[2]-want[2]) > 1e-6 || dst[0] != 0 {
		t.Errorf("Score({a}): got %v, want %v", dst, want)
	}
}

func TestFitPrunesNeighbours(t *testing.T) {
	t.Parallel()
	m, err := Fit(t.Context(), matrix(), Config{Neighbours: 1})
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	// b's neighbours tie (a and c at 2/√6): the lower index, a, is kept.
	for _, tt := range []struct{ item, want int32 }{{a, b}, {b, a}, {c, b}} {
		if got, _ := m.Similar(tt.item); !reflect.DeepEqual(got, []int32{tt.want}) {
			t.Errorf("Similar(%d): got %v, want [%d]", tt.item, got, tt.want)
		}
	}
	// c's only neighbour is b, so history {a} no longer reaches c.
	dst := make([]float64, 3)
	m.Score([]int32{a}, []float64{1}, dst)
	if math.Abs(dst[b]-sab) > 1e-6 || dst[c] != 0 {
		t.Errorf("Score({a}): got %v, want [0 %v 0]", dst, sab)
	}
}

func TestShrink(t *testing.T) {
	t.Parallel()
	m, err := Fit(t.Context(), matrix(), Config{Shrink: 1})
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	_, sims := m.Similar(a)
	if want := []float64{2 / (math.Sqrt(6) + 1), 1.0 / 3}; !close32(sims, want) {
		t.Errorf("Similar(a) sims: got %v, want %v", sims, want)
	}
	if _, err := Fit(t.Context(), matrix(), Config{Neighbours: -1}); err == nil {
		t.Errorf("negative neighbours: got nil error")
	}
}
