package topk

import (
	"cmp"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	scores := []float64{0.1, 0.9, 0.5, 0.9, -1, 0.7}
	tests := []struct {
		name string
		k    int
		skip func(int32) bool
		want []int32
	}{
		{"top 3, tie to lower index", 3, nil, []int32{1, 3, 5}},
		{"k above n", 10, nil, []int32{1, 3, 5, 2, 0, 4}},
		{"skip", 2, func(i int32) bool { return i == 1 || i == 5 }, []int32{3, 2}},
		{"k=0", 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Select(scores, tt.k, tt.skip); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelectMatchesSort(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]float64, 1000)
	for i := range scores {
		scores[i] = float64(rng.IntN(50)) // many ties
	}
	idx := make([]int32, len(scores))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int { return cmp.Compare(scores[b], scores[a]) })
	if got, want := Select(scores, 25, nil), idx[:25]; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
