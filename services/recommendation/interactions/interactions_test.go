package interactions

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBuilderCombinesAndSorts(t *testing.T) {
	t.Parallel()
	b := NewBuilder()
	b.Add("u2", "b", 1)
	b.Add("u1", "c", 2)
	b.Add("u1", "a", 1)
	b.Add("u1", "c", 0.5) // summed: 2.5
	b.Add("u2", "a", 1)
	b.Add("u2", "a", -1) // sums to 0: dropped
	m := b.Build()

	if got, want := m.NumUsers(), 2; got != want {
		t.Fatalf("NumUsers: got %d, want %d", got, want)
	}
	if got, want := m.NNZ(), 3; got != want {
		t.Fatalf("NNZ: got %d, want %d", got, want)
	}
	u1, _ := m.Users().Index("u1")
	items, ws := m.Row(int(u1))
	var ids []string
	for _, i := range items {
		ids = append(ids, m.Items().ID(i))
	}
	// Items are indexed in order of first appearance: b=0, c=1, a=2.
	if got, want := ids, []string{"c", "a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("u1 items: got %v, want %v", got, want)
	}
	if got, want := ws, []float64{2.5, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("u1 weights: got %v, want %v", got, want)
	}
	if got, want := m.ItemCounts(), []float64{1, 1, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("ItemCounts: got %v, want %v", got, want)
	}
}

func TestBuildSnapshotsDictionaries(t *testing.T) {
	t.Parallel()
	b := NewBuilder()
	b.Add("u1", "a", 1)
	m := b.Build()
	b.Add("u2", "b", 1)
	if got, want := m.NumItems(), 1; got != want {
		t.Errorf("NumItems after more Adds: got %d, want %d", got, want)
	}
}

func TestItemUsersTransposes(t *testing.T) {
	t.Parallel()
	b := NewBuilder()
	b.Add("u1", "a", 1)
	b.Add("u1", "b", 2)
	b.Add("u2", "b", 3)
	m := b.Build()
	ptr, users, ws := m.ItemUsers()
	if got, want := ptr, []int{0, 1, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("indptr: got %v, want %v", got, want)
	}
	if got, want := users, []int32{0, 0, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("users: got %v, want %v", got, want)
	}
	if got, want := ws, []float64{1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("weights: got %v, want %v", got, want)
	}
}

func TestReadRatingsCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []Rating
		wantErr  error
	}{
		{
			name: "MovieLens header",
			in:   "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n",
			want: []Rating{{"1", "31", 2.5, 1260759144}, {"1", "1029", 3, 1260759179}},
		},
		{
			name: "columns reordered by header",
			in:   "timestamp,rating,itemId,userId\n5,4,i1,u1\n",
			want: []Rating{{"u1", "i1", 4, 5}},
		},
		{
			name: "no header, no rating",
			in:   "u1,i1\nu2,i2\n",
			want: []Rating{{"u1", "i1", 1, 0}, {"u2", "i2", 1, 0}},
		},
		{
			name:    "bad rating",
			in:      "userId,movieId,rating\n1,2,x\n",
			wantErr: ErrBadCSV,
		},
		{
			name:    "missing item",
			in:      "userId,movieId\n1,\n",
			wantErr: ErrBadCSV,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadRatingsCSV(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadUsers(t *testing.T) {
	t.Parallel()
	got, err := ReadUsers(strings.NewReader("userId\n1\n\n 2 \nalice\n"))
	if err != nil {
		t.Fatalf("ReadUsers: %v", err)
	}
	if want := []string{"1", "2", "alice"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got, _ = ReadUsers(strings.NewReader("alice\nbob"))
	if want := []string{"alice", "bob"}; !reflect.DeepEqual(got, want) {
		t.Errorf("without header: got %v, want %v", got, want)
	}
}

func TestBinaryMatrix(t *testing.T) {
	t.Parallel()
	m := BinaryMatrix([]Rating{{"u", "a", 5, 0}, {"u", "a", 3, 1}, {"u", "b", 0.5, 0}})
	_, ws := m.Row(0)
	if got, want := ws, []float64{1, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("weights: got %v, want %v", got, want)
	}
}
