// Package cluster groups users by behaviour: k-means over standardised behaviour features
// of the derived profile, with k given or chosen by the mean silhouette, each cluster
// described by the features whose centre lies furthest from the population mean. It is
// pure and deterministic for a given input order and seed; safe for concurrent use.
//
// Fitting is O(n·k·iterations) per k and the silhouette O(m²): [Fit] clusters a
// deterministic sample of at most MaxFit users and scores silhouettes on at most
// MaxSilhouette of them, then assigns every user to the nearest centre for the sizes.
package cluster

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Features names the behaviour features, in vector order. Counts that spread over
// orders of magnitude enter as log(1+x).
var Features = []string{
	"active_days_d30", "sessions_d30", "log_learning_minutes_d30", "log_lessons_completed_d90",
	"log_views_d30", "log_intent_d30", "orders_d90", "log_revenue_d90", "log_days_inactive",
}

// Vector returns the behaviour features of a derived profile.
func Vector(p *profilev1.Profile) []float64 {
	a := p.GetAggregates()
	d30, d90 := a.GetD30(), a.GetD90()
	l := func(v float64) float64 { return math.Log1p(max(v, 0)) }
	return []float64{
		float64(d30.GetActiveDays()),
		float64(d30.GetSessions()),
		l(d30.GetLearningMinutes()),
		l(float64(d90.GetLessonsCompleted())),
		l(float64(d30.GetViews())),
		l(float64(d30.GetFavorites() + d30.GetCartAdds())),
		float64(d90.GetOrders()),
		l(float64(d90.GetRevenueMinor()) / 100),
		l(float64(p.GetLifecycle().GetDaysInactive())),
	}
}

// Limits of Fit.
const (
	MaxFit        = 10_000
	MaxSilhouette = 2_000
	maxK          = 8
	iterations    = 100
	restarts      = 3
)

// Fit clusters the feature vectors xs into k clusters (k ≤ 0: the k in 2..8 with the
// best mean silhouette). It returns nil for fewer than 3 vectors. Version and
// computed_at are left to the caller.
func Fit(xs [][]float64, k int, seed uint64) *profilev1.ClusterModel {
	n := len(xs)
	if n < 3 {
		return nil
	}
	d := len(Features)
	m := &profilev1.ClusterModel{Features: slices.Clone(Features), Mean: make([]float64, d), Std: make([]float64, d), Population: int64(n)}
	col := make([]float64, n)
	for j := range d {
		for i, x := range xs {
			col[i] = x[j]
		}
		m.Mean[j], m.Std[j] = stat.PopMeanStdDev(col, nil)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	fit := sample(len(xs), MaxFit, rng)
	zs := make([][]float64, len(fit))
	for i, idx := range fit {
		zs[i] = standardise(m, xs[idx])
	}
	sil := sample(len(zs), MaxSilhouette, rng)
	ks := []int{k}
	if k <= 0 {
		ks = nil
		for c := 2; c <= min(maxK, len(zs)-1); c++ {
			ks = append(ks, c)
		}
	}
	var best [][]float64
	bestScore := math.Inf(-1)
	for _, c := range ks {
		// The best of a few k-means++ starts, by inertia, as a local optimum is common.
		var centres [][]float64
		bestInertia := math.Inf(1)
		for range restarts {
			cs := kmeans(zs, c, rng)
			if in := inertia(zs, cs); in < bestInertia {
				centres, bestInertia = cs, in
			}
		}
		score := silhouette(zs, sil, centres)
		if score > bestScore+1e-12 {
			best, bestScore = centres, score
		}
	}
	m.Silhouette = bestScore

	// Sizes and raw means over every vector, clusters ordered by size.
	sizes := make([]int64, len(best))
	sums := make([][]float64, len(best))
	for c := range sums {
		sums[c] = make([]float64, d)
	}
	for _, x := range xs {
		c := nearest(best, standardise(m, x))
		sizes[c]++
		floats.Add(sums[c], x)
	}
	order := make([]int, len(best))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	for rank, c := range order {
		cl := &profilev1.Cluster{ClusterId: int32(rank + 1), Size: sizes[c], Centroid: best[c]}
		byDistance := make([]int, d)
		for j := range byDistance {
			byDistance[j] = j
		}
		slices.SortStableFunc(byDistance, func(a, b int) int { return cmp.Compare(math.Abs(best[c][b]), math.Abs(best[c][a])) })
		var parts []string
		for _, j := range byDistance[:3] {
			mean := 0.0
			if sizes[c] > 0 {
				mean = sums[c][j] / float64(sizes[c])
			}
			cl.Distinguishing = append(cl.Distinguishing, &profilev1.FeatureDeviation{Feature: Features[j], Z: best[c][j], Mean: mean})
			word := "high"
			if best[c][j] < 0 {
				word = "low"
			}
			parts = append(parts, fmt.Sprintf("%s %s", word, Features[j]))
		}
		cl.Label = strings.Join(parts, ", ")
		m.Clusters = append(m.Clusters, cl)
	}
	return m
}

// Assign returns the id of the cluster nearest to the profile's features, 0 when m is nil.
func Assign(m *profilev1.ClusterModel, p *profilev1.Profile) int32 {
	if m == nil || len(m.GetClusters()) == 0 || len(m.GetMean()) != len(Features) {
		return 0
	}
	z := standardise(m, Vector(p))
	best, bestD := int32(0), math.Inf(1)
	for _, c := range m.GetClusters() {
		if len(c.GetCentroid()) != len(z) {
			continue
		}
		if dd := floats.Distance(z, c.GetCentroid(), 2); dd < bestD {
			best, bestD = c.GetClusterId(), dd
		}
	}
	return best
}

func standardise(m *profilev1.ClusterModel, x []float64) []float64 {
	z := make([]float64, len(x))
	for j, v := range x {
		if s := m.GetStd()[j]; s > 0 {
			z[j] = (v - m.GetMean()[j]) / s
		}
	}
	return z
}

// sample returns up to max indices of 0..n-1, all of them in order when n ≤ max.
func sample(n, limit int, rng *rand.Rand) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if n <= limit {
		return idx
	}
	rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	idx = idx[:limit]
	slices.Sort(idx)
	return idx
}

func nearest(centres [][]float64, z []float64) int {
	best, bestD := 0, math.Inf(1)
	for c, ctr := range centres {
		if dd := floats.Distance(z, ctr, 2); dd < bestD {
			best, bestD = c, dd
		}
	}
	return best
}

// kmeans runs Lloyd's algorithm from a k-means++ start and returns the centres.
func kmeans(zs [][]float64, k int, rng *rand.Rand) [][]float64 {
	d := len(zs[0])
	centres := [][]float64{slices.Clone(zs[rng.IntN(len(zs))])}
	dist := make([]float64, len(zs))
	for len(centres) < k {
		var total float64
		for i, z := range zs {
			dd := floats.Distance(z, centres[nearest(centres, z)], 2)
			dist[i] = dd * dd
			total += dist[i]
		}
		if total == 0 {
			centres = append(centres, slices.Clone(zs[rng.IntN(len(zs))]))
			continue
		}
		r := rng.Float64() * total
		next := len(zs) - 1
		for i, w := range dist {
			if r -= w; r <= 0 {
				next = i
				break
			}
		}
		centres = append(centres, slices.Clone(zs[next]))
	}
	labels := make([]int, len(zs))
	for i := range labels {
		labels[i] = -1
	}
	for range iterations {
		moved := false
		for i, z := range zs {
			if c := nearest(centres, z); c != labels[i] {
				labels[i], moved = c, true
			}
		}
		if !moved {
			break
		}
		counts := make([]int, k)
		sums := make([][]float64, k)
		for c := range sums {
			sums[c] = make([]float64, d)
		}
		for i, z := range zs {
			counts[labels[i]]++
			floats.Add(sums[labels[i]], z)
		}
		for c := range centres {
			if counts[c] == 0 {
				continue // keep an empty cluster's centre where it was
			}
			floats.ScaleTo(centres[c], 1/float64(counts[c]), sums[c])
		}
	}
	return centres
}

// inertia is the sum of squared distances to the nearest centre.
func inertia(zs [][]float64, centres [][]float64) float64 {
	var total float64
	for _, z := range zs {
		d := floats.Distance(z, centres[nearest(centres, z)], 2)
		total += d * d
	}
	return total
}

// silhouette is the mean silhouette of the sampled points under nearest-centre labels.
func silhouette(zs [][]float64, idx []int, centres [][]float64) float64 {
	k := len(centres)
	labels := make([]int, len(idx))
	for i, p := range idx {
		labels[i] = nearest(centres, zs[p])
	}
	var total float64
	for i, p := range idx {
		sum := make([]float64, k)
		cnt := make([]int, k)
		for j, q := range idx {
			if i == j {
				continue
			}
			sum[labels[j]] += floats.Distance(zs[p], zs[q], 2)
			cnt[labels[j]]++
		}
		own := labels[i]
		if cnt[own] == 0 {
			continue // a singleton scores 0
		}
		a := sum[own] / float64(cnt[own])
		b := math.Inf(1)
		for c := range k {
			if c != own && cnt[c] > 0 {
				b = min(b, sum[c]/float64(cnt[c]))
			}
		}
		if math.IsInf(b, 1) {
			continue
		}
		if s := max(a, b); s > 0 {
			total += (b - a) / s
		}
	}
	return total / float64(len(idx))
}
