// Package split divides ratings into a training and a test set for offline evaluation.
//
// [Stratified] holds out a random share of every user's ratings (the protocol of the
// reference figures: per-user stratified 75/25, seed 42); [Temporal] holds out every
// user's latest ratings, which tests the harder task of predicting what comes next. Both
// are deterministic: the same ratings (in any order), ratio and seed give the same split.
// Functions are pure and safe for concurrent use.
package split

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// ErrBadRatio is returned for a test ratio outside (0, 1).
var ErrBadRatio = errors.New("split: test ratio must be in (0, 1)")

// Split is a training set and a test set.
type Split struct {
	Train, Test []interactions.Rating
}

// Protocol names a splitting protocol.
type Protocol string

// Protocols.
const (
	ProtocolStratified Protocol = "stratified"
	ProtocolTemporal   Protocol = "temporal"
)

// Apply splits ratings with the named protocol.
func Apply(p Protocol, ratings []interactions.Rating, ratio float64, seed uint64) (Split, error) {
	switch p {
	case ProtocolStratified:
		return Stratified(ratings, ratio, seed)
	case ProtocolTemporal:
		return Temporal(ratings, ratio)
	}
	return Split{}, fmt.Errorf("split: unknown protocol %q (want stratified or temporal)", p)
}

// testCount is how many of a user's n ratings are held out: round(ratio·n), leaving at
// least one rating in training so that every test user has a history.
func testCount(n int, ratio float64) int {
	t := int(math.Round(ratio * float64(n)))
	return min(t, n-1)
}

// byUser groups ratings per user, users in increasing id order, each user's ratings in a
// canonical order (time, then item, then value) independent of the input order.
func byUser(ratings []interactions.Rating) [][]interactions.Rating {
	sorted := slices.Clone(ratings)
	slices.SortFunc(sorted, func(a, b interactions.Rating) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Time, b.Time),
			cmp.Compare(a.Item, b.Item), cmp.Compare(a.Value, b.Value))
	})
	var groups [][]interactions.Rating
	for lo := 0; lo < len(sorted); {
		hi := lo + 1
		for hi < len(sorted) && sorted[hi].User == sorted[lo].User {
			hi++
		}
		groups = append(groups, sorted[lo:hi:hi])
		lo = hi
	}
	return groups
}

// Stratified holds out round(ratio·n) of each user's n ratings, chosen uniformly at
// random with a PCG generator seeded by seed; a user keeps at least one rating in training.
func Stratified(ratings []interactions.Rating, ratio float64, seed uint64) (Split, error) {
	if !(ratio > 0 && ratio < 1) {
		return Split{}, ErrBadRatio
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var s Split
	for _, g := range byUser(ratings) {
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		t := testCount(len(g), ratio)
		s.Test = append(s.Test, g[:t]...)
		s.Train = append(s.Train, g[t:]...)
	}
	return s, nil
}

// Temporal holds out each user's latest round(ratio·n) ratings (ties broken by item id); a
// user keeps at least one rating in training.
func Temporal(ratings []interactions.Rating, ratio float64) (Split, error) {
	if !(ratio > 0 && ratio < 1) {
		return Split{}, ErrBadRatio
	}
	var s Split
	for _, g := range byUser(ratings) {
		cut := len(g) - testCount(len(g), ratio)
		s.Train = append(s.Train, g[:cut]...)
		s.Test = append(s.Test, g[cut:]...)
	}
	return s, nil
}

// StratifiedUsers holds out round(ratio·n) of the n ratings of a random share of the users
// (userShare, in (0, 1]), chosen with a PCG generator seeded by seed; the other users keep
// all their ratings in training. It is the validation split of package hybrid: the
// training part keeps most of the data, so models fitted on it resemble those fitted on
// all of it.
func StratifiedUsers(ratings []interactions.Rating, userShare, ratio float64, seed uint64) (Split, error) {
	if !(ratio > 0 && ratio < 1) {
		return Split{}, ErrBadRatio
	}
	if !(userShare > 0 && userShare <= 1) {
		return Split{}, fmt.Errorf("split: user share %v must be in (0, 1]", userShare)
	}
	rng := rand.New(rand.NewPCG(seed, 0x05e75))
	groups := byUser(ratings)
	picked := make([]bool, len(groups))
	for _, g := range rng.Perm(len(groups))[:int(math.Round(userShare*float64(len(groups))))] {
		picked[g] = true
	}
	var s Split
	for i, g := range groups {
		t := 0
		if picked[i] {
			rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
			t = testCount(len(g), ratio)
		}
		s.Test = append(s.Test, g[:t]...)
		s.Train = append(s.Train, g[t:]...)
	}
	return s, nil
}
