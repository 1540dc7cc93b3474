package campaign

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the recommendation prefetch.
const (
	DefaultRecommendConcurrency = 8
	DefaultRecommendTimeout     = 200 * time.Millisecond
)

// prefetched holds the recommended items of the treated users, fetched before the
// launch transaction opens. A user missing from it (the recommender failed or timed
// out for them, or they became eligible between the prefetch and the transaction) gets
// the message without items.
type prefetched map[string][]string

// prefetch asks the recommender for the items of every treated user whose variant
// wants some, at most concurrency calls at a time, each bounded by timeout. A failed
// or slow call falls back to no items; only the cancellation of ctx (a shutdown) stops
// the prefetch, with ctx's error, so that the launch is abandoned before it writes
// anything.
func (p *planner) prefetch(ctx context.Context, users []assigned, concurrency int, timeout time.Duration) (prefetched, int64, error) {
	want := map[string]int{}
	for _, v := range p.variants {
		if v.recommend > 0 {
			want[v.name] = v.recommend
		}
	}
	out := prefetched{}
	if p.recommender == nil || len(want) == 0 {
		return out, 0, nil
	}
	type job struct {
		user string
		n    int
	}
	jobs := make(chan job)
	var (
		mu     sync.Mutex
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range max(1, concurrency) {
		wg.Go(func() {
			for j := range jobs {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				items, err := p.recommender.Recommend(cctx, j.user, j.n)
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				out[j.user] = items
				mu.Unlock()
			}
		})
	}
feed:
	for _, u := range users {
		n := want[u.arm]
		if n == 0 {
			continue
		}
		select {
		case jobs <- job{user: u.cand.UserID, n: n}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return out, failed.Load(), nil
}
