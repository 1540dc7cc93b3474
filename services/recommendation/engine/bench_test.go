package engine

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/interactions"
)

// BenchmarkRecommendCacheHit measures a home Recommend served from a precomputed list
// (Redis protocol on loopback: miniredis), filters and diversification included.
func BenchmarkRecommendCacheHit(b *testing.B) {
	f := newFixture(b, Config{})
	world(f)
	if _, err := f.eng.Train(b.Context()); err != nil {
		b.Fatal(err)
	}
	req := &recommendationv1.RecommendRequest{UserId: "u00", N: 10}
	if got, err := f.eng.Recommend(b.Context(), req); err != nil || got.GetSource() != SourceCache {
		b.Fatalf("warm-up: got %v %v, want a cache hit", got, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.eng.Recommend(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecommendRedisDown measures the fallback path: Redis refuses connections and
// the list comes from memory.
func BenchmarkRecommendRedisDown(b *testing.B) {
	f := newFixture(b, Config{})
	world(f)
	f.mr.Close()
	req := &recommendationv1.RecommendRequest{UserId: "u00", N: 10}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := f.eng.Recommend(b.Context(), req); err != nil || got.GetSource() != SourcePopular {
			b.Fatalf("got %v %v, want popular", got, err)
		}
	}
}

// BenchmarkFitModels1M measures the model fitting of a training run (item-kNN over every
// item, EASE over the 5,000 most popular) on one million synthetic interactions: 50,000
// users with 20 items each out of 20,000, item popularity following a power law. It
// reports the peak heap besides the time.
func BenchmarkFitModels1M(b *testing.B) {
	const users, perUser, items = 50000, 20, 20000
	rng := rand.New(rand.NewPCG(1, 2))
	bld := interactions.NewBuilder()
	for u := range users {
		seen := map[int]bool{}
		for len(seen) < perUser {
			i := int(math.Pow(rng.Float64(), 2.5) * items) // power law: low ids popular
			if !seen[i] {
				seen[i] = true
				bld.Add(strconv.Itoa(u), strconv.Itoa(i), 1+rng.Float64())
			}
		}
	}
	x := bld.Build()
	e, err := New(Config{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	e.run.Store(&recommendationv1.TrainingRun{})
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	})
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.fitModels(b.Context(), x, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(x.NNZ()), "interactions")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
