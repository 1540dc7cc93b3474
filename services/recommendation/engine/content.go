package engine

import (
	"context"
	"time"

	"github.com/stratahq/strata/services/recommendation/content"
	"github.com/stratahq/strata/services/recommendation/signal"
	"github.com/stratahq/strata/services/recommendation/store"
)

// RefreshContent refits the content model when the catalog changed since its last fit
// (tokenising only the items that changed). Training calls it, and RunTrainer every
// Config.ContentInterval, so a new item is served by its content within that interval.
func (e *Engine) RefreshContent(ctx context.Context) error {
	e.contentMu.Lock()
	defer e.contentMu.Unlock()
	if e.content.Load() != nil && !e.catalog.changed(e.contentBuilt) {
		return nil
	}
	docs, version := e.catalog.documents()
	m, err := e.contentFit.Fit(ctx, docs)
	if err != nil {
		return err
	}
	e.content.Store(m)
	e.contentBuilt = version
	return nil
}

// interestCands returns the items matching a user's stated interests, best first, each
// for the reason naming the interest it matches best; excluded and removed items left out.
func (e *Engine) interestCands(interests []string, excluded map[string]bool) []candidate {
	cm := e.content.Load()
	if cm == nil || len(interests) == 0 {
		return nil
	}
	skip := func(id string) bool { return excluded[id] || isRemoved(e.catalog, id) }
	best := map[string]int{}
	var out []candidate
	for _, in := range interests {
		for _, mt := range cm.Search(cm.Query(in), e.cfg.Candidates, skip) {
			if k, ok := best[mt.ID]; ok {
				if mt.Score > out[k].score {
					out[k].score, out[k].reason = mt.Score, "matches your interest in "+in
				}
				continue
			}
			best[mt.ID] = len(out)
			out = append(out, candidate{item: mt.ID, score: mt.Score, reason: "matches your interest in " + in})
		}
	}
	sortCandidates(out)
	return out[:min(len(out), e.cfg.Candidates)]
}

// coldCands returns up to limit catalog items the collaborative models do not know yet
// (new items), by the content similarity to the user's history, each for the reason
// naming the most similar history item; scale multiplies the cosine similarities.
func (e *Engine) coldCands(snap *snapshot, h userHistory, now time.Time, limit int, scale float64) []candidate {
	cm := e.content.Load()
	if cm == nil || limit <= 0 {
		return nil
	}
	var items []string
	var ws []float64
	for _, en := range h.entries {
		if en.Negative || !cm.Has(en.Item) {
			continue
		}
		if w := signal.Decay(en.Weight, en.At, now, e.cfg.HalfLife); w > minWeight {
			items = append(items, en.Item)
			ws = append(ws, w)
		}
	}
	if len(items) == 0 {
		return nil
	}
	matches := cm.Search(cm.Profile(items, ws), limit, func(id string) bool {
		_, known := indexOf(snap, id)
		return known || h.excluded[id] || isRemoved(e.catalog, id)
	})
	out := make([]candidate, len(matches))
	for r, mt := range matches {
		out[r] = candidate{item: mt.ID, score: scale * mt.Score, reason: "new, like " + quote(e.catalog.title(closest(cm, mt.ID, items, ws)))}
	}
	return out
}

// closest returns the item of items whose weighted similarity to id is the largest.
func closest(cm *content.Model, id string, items []string, ws []float64) string {
	v := cm.Vector(id)
	best, bestV := items[0], -1.0
	for k, it := range items {
		if s := ws[k] * content.Dot(v, cm.Vector(it)); s > bestV {
			best, bestV = it, s
		}
	}
	return best
}

// traits reads a user's stated interests and segments within the request budget; on a
// Redis error it returns none.
func (e *Engine) traits(ctx, rctx context.Context, user string) store.Traits {
	t, err := e.store.Traits(rctx, user)
	if err != nil {
		e.redisFailed(ctx, err)
	}
	return t
}
