package engine

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/interactions/interactionstest"
)

// BenchmarkRecommendCacheHit measures a home Recommend served from a precomputed list of
// Config.Candidates items (Redis protocol on loopback: miniredis), filters and
// diversification included: the hit path, whose allocations it reports.
func BenchmarkRecommendCacheHit(b *testing.B) {
	f := newFixture(b, Config{})
	list := &recommendationv1.RecommendResponse{Variant: "ease", ModelVersion: "v1"}
	for i := range f.eng.cfg.Candidates {
		id := "item-" + strconv.Itoa(i)
		f.item(id, "category-"+strconv.Itoa(i%10), eventv1.ItemType_ITEM_TYPE_COURSE, 990)
		list.Items = append(list.Items, &recommendationv1.Recommendation{
			ItemId: id, Score: 1 / float64(1+i), Reason: "because you bought “Course " + strconv.Itoa(i%7) + "”",
		})
	}
	if err := f.eng.store.PutLists(b.Context(), sceneHome, map[string]*recommendationv1.RecommendResponse{"u": list}, time.Hour); err != nil {
		b.Fatal(err)
	}
	req := &recommendationv1.RecommendRequest{UserId: "u", N: 10}
	if got, err := f.eng.Recommend(b.Context(), req); err != nil || got.GetSource() != SourceCache || len(got.GetItems()) != 10 {
		b.Fatalf("warm-up: got %v %v, want 10 items from the cache", got, err)
	}
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		if _, err := f.eng.Recommend(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the CPU time (user and system) the process has used: per operation
// it depends less on what else the machine runs than ns/op does.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
	x := interactionstest.PowerLaw(50000, 20, 20000)
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

// BenchmarkQuality1M measures what a run's metrics add to it: the served model (EASE,
// the default first variant) fitted again and 2,000 users ranked by it and by
// popularity, on the data of BenchmarkFitModels1M. The held-out items stay in the matrix
// here: the cost is the same, and the figures are not reported.
func BenchmarkQuality1M(b *testing.B) {
	x := interactionstest.PowerLaw(50000, 20, 20000)
	e, err := New(Config{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	held := map[string]string{}
	for u := range e.cfg.HoldoutUsers {
		items, _ := x.Row(u)
		held[x.Users().ID(int32(u))] = x.Items().ID(items[0])
	}
	for b.Loop() {
		if err := e.quality(b.Context(), x, held, &recommendationv1.TrainingRun{}); err != nil {
			b.Fatal(err)
		}
	}
}
