package movielens_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stratahq/strata/services/prediction/movielens"
)

func TestReadDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ratings string
		want    [][]string // categories per event
		wantErr error
	}{
		{"genres become categories", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964982800\n", [][]string{{"Adventure", "Comedy"}, {""}}, nil},
		{"bad timestamp", "userId,movieId,rating,timestamp\n1,1,4.0,x\n", nil, movielens.ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			movies := "movieId,title,genres\n1,\"Toy Story (1995)\",Adventure|Comedy\n2,Untitled,(no genres listed)\n"
			for name, body := range map[string]string{"movies.csv": movies, "ratings.csv": tt.ratings} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			events, err := movielens.ReadDir(dir)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if len(events) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(events), len(tt.want))
			}
			for i, e := range events {
				var cats []string
				for _, it := range e.GetOrder().GetItems() {
					cats = append(cats, it.GetCategory())
				}
				if !slices.Equal(cats, tt.want[i]) || e.GetUserId() != "ml-1" || e.GetEvent() != "Order Completed" {
					t.Errorf("event %d: got %s %s %v, want ml-1 Order Completed %v", i, e.GetUserId(), e.GetEvent(), cats, tt.want[i])
				}
			}
		})
	}
	if _, err := movielens.ReadDir(t.TempDir()); err == nil {
		t.Error("empty dir: got nil error")
	}
}
