// Package topk selects the best k items of a score vector, deterministically: the step that
// turns every model's scores into a ranked list, offline and online. Functions are pure and
// safe for concurrent use.
package topk

// Select returns the indices of the k highest scores, best first, skipping those for which
// skip returns true (skip may be nil). Ties go to the lower index, so lists are
// deterministic. It runs in O(n·log k).
func Select(scores []float64, k int, skip func(int32) bool) []int32 {
	if k <= 0 {
		return nil
	}
	// h is a min-heap of the best k seen: h[0] is the weakest kept.
	h := make([]int32, 0, k)
	worse := func(a, b int32) bool { // a ranks below b
		if scores[a] != scores[b] {
			return scores[a] < scores[b]
		}
		return a > b
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			c := l
			if r := l + 1; r < len(h) && worse(h[r], h[l]) {
				c = r
			}
			if !worse(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i := range scores {
		j := int32(i)
		if skip != nil && skip(j) {
			continue
		}
		if len(h) < k {
			h = append(h, j)
			for c := len(h) - 1; c > 0; {
				p := (c - 1) / 2
				if !worse(h[c], h[p]) {
					break
				}
				h[c], h[p] = h[p], h[c]
				c = p
			}
			continue
		}
		if worse(h[0], j) {
			h[0] = j
			down(0)
		}
	}
	out := make([]int32, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = h[0]
		h[0] = h[len(h)-1]
		h = h[:len(h)-1]
		down(0)
	}
	return out
}
