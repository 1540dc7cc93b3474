package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/recommendation/signal"
	"github.com/stratahq/strata/services/recommendation/store"
)

// handleSegment records a strata.segments.v1 enter or exit event. Enter and exit are
// idempotent, and one user's events arrive in order (the topic is keyed by user id).
func (e *Engine) handleSegment(ctx context.Context, msg bus.Message) error {
	ev := &profilev1.SegmentEvent{}
	if err := bus.DecodeProto(msg, ev); err != nil {
		return err
	}
	user := ev.GetUserId()
	if user == "" {
		user = string(msg.Key)
	}
	if user == "" || ev.GetSegmentId() == "" {
		return bus.Permanent(errors.New("engine: segment event without a user or a segment"))
	}
	switch ev.GetType() {
	case profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER:
		return e.store.SetSegment(ctx, user, ev.GetSegmentId(), true)
	case profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT:
		return e.store.SetSegment(ctx, user, ev.GetSegmentId(), false)
	}
	return nil // a type this version does not know changes nothing
}

// handleSegmentDefinition records a segment's name from strata.segment-definitions.v1
// (key: segment id; a tombstone deletes the segment).
func (e *Engine) handleSegmentDefinition(ctx context.Context, msg bus.Message) error {
	id := string(msg.Key)
	var name string
	if msg.Value != nil {
		seg := &profilev1.Segment{}
		if err := bus.DecodeProto(msg, seg); err != nil {
			return err
		}
		if id == "" {
			id = seg.GetSegmentId()
		}
		name = seg.GetName()
	}
	if id == "" {
		return bus.Permanent(errors.New("engine: segment definition without an id"))
	}
	if err := e.store.PutSegmentName(ctx, id, name); err != nil {
		return err
	}
	e.names.put(id, name)
	return nil
}

// segmentNames are the segments' names by id; safe for concurrent use.
type segmentNames struct {
	mu    sync.RWMutex
	names map[string]string
}

func (n *segmentNames) put(id, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names == nil {
		n.names = map[string]string{}
	}
	if name == "" {
		delete(n.names, id)
		return
	}
	n.names[id] = name
}

func (n *segmentNames) replace(names map[string]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.names = names
}

// of returns the segment's name, or its id when it has none.
func (n *segmentNames) of(id string) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if name := n.names[id]; name != "" {
		return name
	}
	return id
}

// segmentRankings returns, per segment, its members' most popular items: the decayed
// positive weights of the trained histories summed over the members, the best
// Config.SegmentItems kept.
func (e *Engine) segmentRankings(hists map[string][]store.Entry, traits map[string]store.Traits, now time.Time) map[string]*ranking {
	sums := map[string]map[string]float64{}
	for u, t := range traits {
		for _, s := range t.Segments {
			if sums[s] == nil {
				sums[s] = map[string]float64{}
			}
			for _, en := range hists[u] {
				if en.Negative || isRemoved(e.catalog, en.Item) {
					continue
				}
				if w := signal.Decay(en.Weight, en.At, now, e.cfg.HalfLife); w > minWeight {
					sums[s][en.Item] += w
				}
			}
		}
	}
	out := make(map[string]*ranking, len(sums))
	for s, ws := range sums {
		r := &ranking{weights: ws}
		for it := range ws {
			r.sorted = append(r.sorted, it)
		}
		slices.SortFunc(r.sorted, func(a, b string) int {
			if ws[a] != ws[b] {
				if ws[a] > ws[b] {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		r.sorted = r.sorted[:min(len(r.sorted), e.cfg.SegmentItems)]
		kept := make(map[string]float64, len(r.sorted))
		for _, it := range r.sorted {
			kept[it] = ws[it]
		}
		r.weights = kept
		out[s] = r
	}
	return out
}

// segmentCands returns the items popular in the given segments, not excluded nor
// removed, each scored scale × its weight relative to the segment's best (summed over
// the segments) and for the reason naming the segment where it weighs most.
func (e *Engine) segmentCands(snap *snapshot, segments []string, excluded map[string]bool, scale float64) []candidate {
	if snap == nil || len(snap.segments) == 0 {
		return nil
	}
	idx := map[string]int{}
	var out []candidate
	best := map[string]float64{}
	for _, s := range segments {
		r := snap.segments[s]
		if r == nil || len(r.sorted) == 0 {
			continue
		}
		top := r.weights[r.sorted[0]]
		reason := "popular with learners in " + e.names.of(s)
		for _, it := range r.sorted {
			if excluded[it] || isRemoved(e.catalog, it) {
				continue
			}
			rel := r.weights[it] / top
			k, ok := idx[it]
			if !ok {
				k = len(out)
				idx[it] = k
				out = append(out, candidate{item: it})
			}
			out[k].score += scale * rel
			if rel > best[it] {
				best[it] = rel
				out[k].reason = reason
			}
		}
	}
	sortCandidates(out)
	return out
}

// boostSegments raises the candidates popular in the user's segments by up to
// Config.SegmentBoost times the best candidate's score, and adds the segments' popular
// items the list lacks, keeping the list to Config.Candidates.
func (e *Engine) boostSegments(snap *snapshot, segments []string, cands []candidate, excluded map[string]bool) []candidate {
	scale := e.cfg.SegmentBoost
	if len(cands) > 0 && cands[0].score > 0 {
		scale *= cands[0].score
	}
	boosts := e.segmentCands(snap, segments, excluded, scale)
	if len(boosts) == 0 {
		return cands
	}
	at := make(map[string]int, len(cands))
	for k, c := range cands {
		at[c.item] = k
	}
	for _, b := range boosts {
		if k, ok := at[b.item]; ok {
			cands[k].score += b.score
			continue
		}
		cands = append(cands, b)
	}
	sortCandidates(cands)
	return cands[:min(len(cands), e.cfg.Candidates)]
}
