//go:build !unix

package scoring_test

// cpuSeconds is unavailable here; the benchmarks then omit users/cpu-s.
func cpuSeconds() float64 { return 0 }
