package cluster_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/cluster"
)

// blobs returns n points around each of the centres, in the feature space.
func blobs(n int, centres [][]float64, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out [][]float64
	for i := range n {
		c := centres[i%len(centres)]
		x := make([]float64, len(c))
		for j := range c {
			x[j] = c[j] + rng.NormFloat64()*0.3
		}
		out = append(out, x)
	}
	return out
}

func centre(v float64, hot ...int) []float64 {
	c := make([]float64, len(cluster.Features))
	for _, j := range hot {
		c[j] = v
	}
	return c
}

func TestFitFindsTheBlobs(t *testing.T) {
	t.Parallel()
	// Learners (active days, minutes), buyers (orders, revenue), and idle users.
	centres := [][]float64{centre(10, 0, 2), centre(10, 6, 7), centre(10, 8)}
	xs := blobs(600, centres, 7)
	m := cluster.Fit(xs, 0, 42)
	if m == nil {
		t.Fatal("Fit: got nil")
	}
	if got := len(m.GetClusters()); got != 3 {
		t.Fatalf("k chosen by silhouette: got %d, want 3", got)
	}
	// Six of the nine standardised features are noise, which bounds the silhouette.
	if m.GetSilhouette() < 0.3 {
		t.Errorf("silhouette: got %v, want separated clusters (> 0.3)", m.GetSilhouette())
	}
	for _, c := range m.GetClusters() {
		if c.GetSize() != 200 {
			t.Errorf("cluster %d: size %d, want 200", c.GetClusterId(), c.GetSize())
		}
		if len(c.GetDistinguishing()) != 3 || c.GetLabel() == "" {
			t.Errorf("cluster %d: got %v, want three distinguishing features and a label", c.GetClusterId(), c)
		}
		top := c.GetDistinguishing()[0]
		if top.GetZ() <= 0 {
			t.Errorf("cluster %d: top feature %v, want a high one", c.GetClusterId(), top)
		}
	}
	// Deterministic, and fixed k honoured.
	if again := cluster.Fit(xs, 0, 42); !proto.Equal(again, m) {
		t.Error("Fit is not deterministic for the same input and seed")
	}
	if got := len(cluster.Fit(xs, 5, 42).GetClusters()); got != 5 {
		t.Errorf("Fit with k=5: got %d clusters", got)
	}
	if cluster.Fit(xs[:2], 0, 1) != nil {
		t.Error("Fit of 2 points: want nil")
	}
}

func TestAssign(t *testing.T) {
	t.Parallel()
	centres := [][]float64{centre(10, 0, 1), centre(10, 6)}
	m := cluster.Fit(blobs(200, centres, 3), 2, 1)
	learner := &profilev1.Profile{Aggregates: &profilev1.Aggregates{D30: &profilev1.Window{ActiveDays: 10, Sessions: 10}, D90: &profilev1.Window{}}}
	buyer := &profilev1.Profile{Aggregates: &profilev1.Aggregates{D30: &profilev1.Window{}, D90: &profilev1.Window{Orders: 10}}}
	a, b := cluster.Assign(m, learner), cluster.Assign(m, buyer)
	if a == 0 || b == 0 || a == b {
		t.Errorf("Assign: learner %d buyer %d, want two different clusters", a, b)
	}
	for _, c := range m.GetClusters() {
		if c.GetClusterId() == a && !slices.ContainsFunc(c.GetDistinguishing(), func(f *profilev1.FeatureDeviation) bool { return f.GetFeature() == "active_days_d30" && f.GetZ() > 0 }) {
			t.Errorf("learners' cluster %v: want high active_days_d30 among its distinguishing features", c)
		}
	}
	if cluster.Assign(nil, learner) != 0 {
		t.Error("Assign without a model: want 0")
	}
}

// BenchmarkFit measures one clustering of 200,000 users (the most a calibration keeps),
// k chosen by silhouette.
func BenchmarkFit(b *testing.B) {
	xs := blobs(200_000, [][]float64{centre(10, 0, 2), centre(10, 6, 7), centre(10, 8), centre(5, 1, 3)}, 9)
	b.ResetTimer()
	for range b.N {
		if cluster.Fit(xs, 0, 42) == nil {
			b.Fatal("no model")
		}
	}
}
