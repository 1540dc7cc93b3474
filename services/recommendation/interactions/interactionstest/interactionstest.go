// Package interactionstest builds synthetic interaction matrices for the benchmarks of
// the recommenders, so that they measure on the same data. Functions are deterministic
// and safe for concurrent use.
package interactionstest

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// PowerLaw returns users × perUser distinct interactions over items items, item
// popularity following a power law (low item ids popular), weights in [1, 2).
func PowerLaw(users, perUser, items int) *interactions.Matrix {
	rng := rand.New(rand.NewPCG(1, 2))
	b := interactions.NewBuilder()
	for u := range users {
		seen := map[int]bool{}
		for len(seen) < perUser {
			i := int(math.Pow(rng.Float64(), 2.5) * float64(items))
			if !seen[i] {
				seen[i] = true
				b.Add(strconv.Itoa(u), strconv.Itoa(i), 1+rng.Float64())
			}
		}
	}
	return b.Build()
}
