package engine

import (
	"testing"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
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
