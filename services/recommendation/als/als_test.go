package als

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// planted returns a matrix with a planted block structure: users and items in groups
// groups, each user interacting with a random half of their group's items, and the
// held-out other half of each user's group items.
func planted(groups, usersPer, itemsPer int, seed uint64) (*interactions.Matrix, map[string][]string) {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := interactions.NewBuilder()
	// Every item first, so that item indices do not depend on the draw.
	held := map[string][]string{}
	for g := range groups {
		for u := range usersPer {
			user := "u" + strconv.Itoa(g) + "-" + strconv.Itoa(u)
			for i := range itemsPer {
				item := "i" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				if rng.IntN(2) == 0 {
					b.Add(user, item, 1)
				} else {
					held[user] = append(held[user], item)
				}
			}
		}
	}
	return b.Build(), held
}

func group(id string) byte { return id[1] }

func TestRecoversPlantedStructure(t *testing.T) {
	t.Parallel()
	x, held := planted(4, 30, 25, 7)
	m, err := Fit(t.Context(), x, Config{Factors: 8, Iterations: 10, Lambda: 0.1, Alpha: 10})
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	dst := make([]float64, x.NumItems())
	var hits, total int
	for u := range x.NumUsers() {
		user := x.Users().ID(int32(u))
		items, ws := x.Row(u)
		m.Score(u, items, ws, dst)
		top := topk.Select(dst, 5, func(j int32) bool { _, seen := slices.BinarySearch(items, j); return seen })
		for _, j := range top {
			total++
			if id := x.Items().ID(j); group(id) == user[1] && slices.Contains(held[user], id) {
				hits++
			}
		}
	}
	// Every unseen item of the user's group is a held-out one: the top 5 should be theirs.
	if frac := float64(hits) / float64(total); frac < 0.98 {
		t.Errorf("top-5 from the user's own group: got %.3f, want ≥ 0.98", frac)
	}
}

func TestLossDecreases(t *testing.T) {
	t.Parallel()
	x, _ := planted(3, 20, 20, 3)
	var losses []float64
	cfg := Config{Factors: 6, Iterations: 8, Lambda: 0.5, Alpha: 5, OnIteration: func(_ int, l float64) { losses = append(losses, l) }}
	if _, err := Fit(t.Context(), x, cfg); err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if len(losses) != 8 {
		t.Fatalf("got %d losses, want 8", len(losses))
	}
	for i := 1; i < len(losses); i++ {
		if losses[i] > losses[i-1]*(1+1e-9) {
			t.Errorf("iteration %d: loss %v after %v, want it not to increase", i+1, losses[i], losses[i-1])
		}
	}
	if losses[len(losses)-1] > 0.5*losses[0] {
		t.Errorf("loss went from %v to %v, want it at least halved", losses[0], losses[len(losses)-1])
	}
}

func TestFoldInScoresLikeTrainedUsers(t *testing.T) {
	t.Parallel()
	x, _ := planted(3, 20, 20, 5)
	m, err := Fit(t.Context(), x, Config{Factors: 6, Iterations: 10, Lambda: 0.1, Alpha: 10})
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	// A new user with three items of group 2: the best unseen items are group 2's.
	var hist []int32
	for _, id := range []string{"i2-0", "i2-1", "i2-2"} {
		j, ok := x.Items().Index(id)
		if !ok {
			t.Fatalf("no item %s", id)
		}
		hist = append(hist, j)
	}
	slices.Sort(hist)
	dst := make([]float64, x.NumItems())
	m.Score(-1, hist, []float64{1, 1, 1}, dst)
	for _, j := range topk.Select(dst, 10, func(j int32) bool { return slices.Contains(hist, j) }) {
		if id := x.Items().ID(j); group(id) != '2' {
			t.Errorf("fold-in top 10: got %s, want group 2 items", id)
		}
	}
}

func TestDeterministicAndCancellable(t *testing.T) {
	t.Parallel()
	x, _ := planted(2, 10, 10, 9)
	cfg := Config{Factors: 4, Iterations: 3}
	a, err := Fit(t.Context(), x, cfg)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	b, err := Fit(t.Context(), x, cfg)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if !slices.Equal(a.items, b.items) || !slices.Equal(a.users, b.users) {
		t.Errorf("two fits with one seed differ")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Fit(ctx, x, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("Fit with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := Fit(t.Context(), x, Config{Lambda: -1}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Fit with λ < 0: got %v, want ErrBadConfig", err)
	}
}
