package als

import (
	"runtime"
	"testing"

	"github.com/stratahq/strata/services/recommendation/interactions/interactionstest"
)

// BenchmarkFit1M fits the default model (64 factors, 15 iterations, 3 CG steps) on one
// million synthetic interactions: 50,000 users with 20 items each out of 20,000, item
// popularity following a power law, weights in [1, 2) (the data of the engine's
// BenchmarkFitModels1M). It
// reports the heap the fit keeps (the factors) besides the time.
func BenchmarkFit1M(b *testing.B) {
	x := interactionstest.PowerLaw(50000, 20, 20000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var m *Model
	for b.Loop() {
		var err error
		if m, err = Fit(b.Context(), x, Config{}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(x.NNZ()), "interactions")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "model-MiB")
	runtime.KeepAlive(m)
}
