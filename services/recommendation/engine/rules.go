package engine

import (
	"cmp"
	"slices"
	"strings"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/store"
)

// candidate is an item considered for a list.
type candidate struct {
	item   string
	score  float64
	reason string
}

// filter returns the candidates that pass the request's filters (f may be nil) and the
// catalog's tombstones; excluded items never pass. It does not modify its arguments. It
// reads the catalog under one lock: it runs on every request.
func filter(cands []candidate, f *recommendationv1.Filters, cat *catalog, excluded map[string]bool) []candidate {
	var (
		cats, types, requestExcluded map[string]bool
		minP, maxP                   = f.GetMinPriceMinor(), f.GetMaxPriceMinor()
	)
	if len(f.GetCategories()) > 0 {
		cats = lowerSet(f.GetCategories())
	}
	if len(f.GetItemTypes()) > 0 {
		types = map[string]bool{}
		for _, t := range f.GetItemTypes() {
			types[normaliseType(t)] = true
		}
	}
	if len(f.GetExcludeItemIds()) > 0 {
		requestExcluded = make(map[string]bool, len(f.GetExcludeItemIds()))
		for _, id := range f.GetExcludeItemIds() {
			requestExcluded[id] = true
		}
	}
	out := make([]candidate, 0, len(cands))
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	for _, c := range cands {
		if excluded[c.item] || requestExcluded[c.item] {
			continue
		}
		m, known := cat.items[c.item]
		if m.removed {
			continue
		}
		if cats != nil && (!known || !cats[strings.ToLower(m.category)]) {
			continue
		}
		if types != nil && (!known || !types[m.itemType]) {
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
// category was already picked (ties to the better-ranked candidate). λ = 1 keeps the
// score order.
//
// It runs on every request, so it avoids the quadratic scan: with candidates sorted by
// score, the best of a step is either the first unpicked candidate of a category not yet
// picked or the first unpicked one of a picked category, found by two cursors.
func diversify(cands []candidate, n int, lambda float64, cat *catalog) []candidate {
	if lambda >= 1 || len(cands) <= 1 {
		return cands[:min(n, len(cands))]
	}
	lo, hi := cands[0].score, cands[0].score
	sorted := true
	for i, c := range cands {
		lo, hi = min(lo, c.score), max(hi, c.score)
		sorted = sorted && (i == 0 || cands[i-1].score >= c.score)
	}
	if !sorted {
		cands = slices.Clone(cands)
		slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	}
	rel := func(s float64) float64 {
		if hi == lo {
			return 1
		}
		return (s - lo) / (hi - lo)
	}
	// Category of each candidate as a small integer; −1 for none (never redundant).
	catOf := make([]int, len(cands))
	ids := map[string]int{}
	cat.mu.RLock()
	for i, c := range cands {
		catOf[i] = -1
		if name := cat.items[c.item].category; name != "" {
			id, ok := ids[name]
			if !ok {
				id = len(ids)
				ids[name] = id
			}
			catOf[i] = id
		}
	}
	cat.mu.RUnlock()
	seen := make([]bool, len(ids))
	used := make([]bool, len(cands))
	redundant := func(i int) bool { return catOf[i] >= 0 && seen[catOf[i]] }
	picked := make([]candidate, 0, min(n, len(cands)))
	fresh, stale := 0, 0 // cursors: first unpicked non-redundant and redundant candidates
	for len(picked) < n {
		for fresh < len(cands) && (used[fresh] || redundant(fresh)) {
			fresh++
		}
		for stale < len(cands) && (used[stale] || !redundant(stale)) {
			stale++
		}
		best := -1
		switch {
		case fresh < len(cands) && stale < len(cands):
			vf, vs := lambda*rel(cands[fresh].score), lambda*rel(cands[stale].score)-(1-lambda)
			best = fresh
			if vs > vf || (vs == vf && stale < fresh) {
				best = stale
			}
		case fresh < len(cands):
			best = fresh
		case stale < len(cands):
			best = stale
		}
		if best < 0 {
			break
		}
		used[best] = true
		if catOf[best] >= 0 {
			seen[catOf[best]] = true
		}
		picked = append(picked, cands[best])
		// A newly seen category makes some candidates before the stale cursor
		// redundant: rescan it from the start.
		stale = 0
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

// toProto converts candidates to messages allocated in one block.
func toProto(cands []candidate) []*recommendationv1.Recommendation {
	out := make([]*recommendationv1.Recommendation, len(cands))
	block := make([]recommendationv1.Recommendation, len(cands))
	for i, c := range cands {
		r := &block[i]
		r.ItemId, r.Score, r.Reason = c.item, c.score, c.reason
		out[i] = r
	}
	return out
}

func fromList(items []store.ListItem) []candidate {
	out := make([]candidate, len(items))
	for i, it := range items {
		out[i] = candidate{item: it.ID, score: it.Score, reason: it.Reason}
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
