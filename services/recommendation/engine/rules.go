package engine

import (
	"slices"
	"strings"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// candidate is an item considered for a list.
type candidate struct {
	item   string
	score  float64
	reason string
}

// filter returns the candidates that pass the request's filters (f may be nil) and the
// catalog's tombstones; excluded items never pass. It does not modify its arguments.
func filter(cands []candidate, f *recommendationv1.Filters, cat *catalog, excluded map[string]bool) []candidate {
	cats := lowerSet(f.GetCategories())
	types := map[string]bool{}
	for _, t := range f.GetItemTypes() {
		types[normaliseType(t)] = true
	}
	requestExcluded := make(map[string]bool, len(f.GetExcludeItemIds()))
	for _, id := range f.GetExcludeItemIds() {
		requestExcluded[id] = true
	}
	minP, maxP := f.GetMinPriceMinor(), f.GetMaxPriceMinor()
	out := cands[:0:0]
	for _, c := range cands {
		if excluded[c.item] || requestExcluded[c.item] {
			continue
		}
		m, known := cat.get(c.item)
		if m.removed {
			continue
		}
		if len(cats) > 0 && (!known || !cats[strings.ToLower(m.category)]) {
			continue
		}
		if len(types) > 0 && (!known || !types[m.itemType]) {
			continue
		}
		if (minP > 0 || maxP > 0) && (!known || !m.hasPrice || m.price < minP || (maxP > 0 && m.price > maxP)) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func lowerSet(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[strings.ToLower(s)] = true
	}
	return m
}

// normaliseType maps "ITEM_TYPE_LIVE_CLASS", "live_class" and "Live Class" to "live_class".
func normaliseType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	t = strings.TrimPrefix(t, "item_type_")
	return strings.NewReplacer(" ", "_", "-", "_").Replace(t)
}

// diversify picks n of the candidates (sorted by score, best first) by maximal marginal
// relevance: each step takes the candidate maximising λ·relevance − (1−λ)·redundancy,
// relevance being the score scaled to [0, 1] and redundancy 1 when an item of the same
// category was already picked. λ = 1 keeps the score order.
func diversify(cands []candidate, n int, lambda float64, cat *catalog) []candidate {
	if n >= len(cands) && lambda >= 1 {
		return cands
	}
	if lambda >= 1 || len(cands) <= 1 {
		return cands[:min(n, len(cands))]
	}
	lo, hi := cands[0].score, cands[0].score
	for _, c := range cands {
		lo, hi = min(lo, c.score), max(hi, c.score)
	}
	rel := func(s float64) float64 {
		if hi == lo {
			return 1
		}
		return (s - lo) / (hi - lo)
	}
	categories := make([]string, len(cands))
	for i, c := range cands {
		m, _ := cat.get(c.item)
		categories[i] = m.category
	}
	picked := make([]candidate, 0, min(n, len(cands)))
	used := make([]bool, len(cands))
	seenCat := map[string]bool{}
	for len(picked) < n {
		best, bestV := -1, 0.0
		for i, c := range cands {
			if used[i] {
				continue
			}
			red := 0.0
			if categories[i] != "" && seenCat[categories[i]] {
				red = 1
			}
			v := lambda*rel(c.score) - (1-lambda)*red
			if best < 0 || v > bestV {
				best, bestV = i, v
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		seenCat[categories[best]] = true
		picked = append(picked, cands[best])
	}
	return picked
}

// sortCandidates orders by score, best first, ties by item id.
func sortCandidates(cands []candidate) {
	slices.SortFunc(cands, func(a, b candidate) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return strings.Compare(a.item, b.item)
	})
}

func toProto(cands []candidate) []*recommendationv1.Recommendation {
	out := make([]*recommendationv1.Recommendation, len(cands))
	for i, c := range cands {
		out[i] = &recommendationv1.Recommendation{ItemId: c.item, Score: c.score, Reason: c.reason}
	}
	return out
}

func fromProto(items []*recommendationv1.Recommendation) []candidate {
	out := make([]candidate, len(items))
	for i, it := range items {
		out[i] = candidate{item: it.GetItemId(), score: it.GetScore(), reason: it.GetReason()}
	}
	return out
}
