package split

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

func ratings(users, perUser int) []interactions.Rating {
	var out []interactions.Rating
	for u := range users {
		for i := range perUser + u { // users have different history lengths
			out = append(out, interactions.Rating{User: fmt.Sprintf("u%d", u), Item: fmt.Sprintf("i%d", i), Value: 4, Time: int64(1000 + i)})
		}
	}
	return out
}

func perUser(rs []interactions.Rating) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.User]++
	}
	return m
}

func TestStratifiedDeterministicAndOrderIndependent(t *testing.T) {
	t.Parallel()
	rs := ratings(20, 8)
	a, err := Stratified(rs, 0.25, 42)
	if err != nil {
		t.Fatalf("Stratified: %v", err)
	}
	shuffled := slices.Clone(rs)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b, _ := Stratified(shuffled, 0.25, 42)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same ratings in another order gave another split")
	}
	c, _ := Stratified(rs, 0.25, 43)
	if reflect.DeepEqual(a.Test, c.Test) {
		t.Errorf("seeds 42 and 43 gave the same test set")
	}
}

func TestStratifiedPerUserShare(t *testing.T) {
	t.Parallel()
	rs := append(ratings(10, 8), interactions.Rating{User: "single", Item: "x"})
	s, err := Stratified(rs, 0.25, 42)
	if err != nil {
		t.Fatalf("Stratified: %v", err)
	}
	if got, want := len(s.Train)+len(s.Test), len(rs); got != want {
		t.Fatalf("train+test: got %d, want %d", got, want)
	}
	all, test, train := perUser(rs), perUser(s.Test), perUser(s.Train)
	for u, n := range all {
		want := min(int(float64(n)*0.25+0.5), n-1)
		if test[u] != want {
			t.Errorf("user %s with %d ratings: got %d held out, want %d", u, n, test[u], want)
		}
		if train[u] == 0 {
			t.Errorf("user %s has no training rating", u)
		}
	}
}

func TestTemporalHoldsOutLatest(t *testing.T) {
	t.Parallel()
	rs := []interactions.Rating{
		{User: "u", Item: "d", Time: 4}, {User: "u", Item: "a", Time: 1},
		{User: "u", Item: "c", Time: 3}, {User: "u", Item: "b", Time: 2},
	}
	s, err := Temporal(rs, 0.5)
	if err != nil {
		t.Fatalf("Temporal: %v", err)
	}
	var got []string
	for _, r := range s.Test {
		got = append(got, r.Item)
	}
	if want := []string{"c", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("held out: got %v, want %v", got, want)
	}
}

func TestBadRatioAndProtocol(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 1, -0.1, 1.5} {
		if _, err := Stratified(nil, r, 1); !errors.Is(err, ErrBadRatio) {
			t.Errorf("Stratified ratio %v: got %v, want ErrBadRatio", r, err)
		}
		if _, err := Temporal(nil, r); !errors.Is(err, ErrBadRatio) {
			t.Errorf("Temporal ratio %v: got %v, want ErrBadRatio", r, err)
		}
	}
	if _, err := Apply("random", nil, 0.25, 1); err == nil {
		t.Errorf("Apply unknown protocol: got nil error")
	}
}

func TestStratifiedUsers(t *testing.T) {
	t.Parallel()
	rs := ratings(40, 10)
	s, err := StratifiedUsers(rs, 0.5, 0.2, 7)
	if err != nil {
		t.Fatalf("StratifiedUsers: %v", err)
	}
	held := perUser(s.Test)
	if got, want := len(held), 20; got != want {
		t.Errorf("users with held-out ratings: got %d, want %d", got, want)
	}
	all := perUser(rs)
	for u, n := range held {
		if want := int(float64(all[u])*0.2 + 0.5); n != want {
			t.Errorf("user %s with %d ratings: got %d held out, want %d", u, all[u], n, want)
		}
	}
	again, _ := StratifiedUsers(rs, 0.5, 0.2, 7)
	if !reflect.DeepEqual(s, again) {
		t.Errorf("same seed gave another split")
	}
	if _, err := StratifiedUsers(rs, 0, 0.2, 7); err == nil {
		t.Errorf("user share 0: got nil error")
	}
}
