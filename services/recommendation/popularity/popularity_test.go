package popularity

import (
	"reflect"
	"testing"
)

func TestTop(t *testing.T) {
	t.Parallel()
	p := New([]float64{3, 5, 0, 5, 1})
	if got, want := p.Top(3, nil), []int32{1, 3, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("Top(3): got %v, want %v", got, want)
	}
	// Items with no interactions are never popular; skipped items are left out.
	if got, want := p.Top(10, func(i int32) bool { return i == 3 }), []int32{1, 0, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("Top(10, skip 3): got %v, want %v", got, want)
	}
	dst := make([]float64, 5)
	p.Score(nil, nil, dst)
	if !reflect.DeepEqual(dst, p.Scores()) {
		t.Errorf("Score: got %v, want %v", dst, p.Scores())
	}
}
