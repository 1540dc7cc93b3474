package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/signal"
	"github.com/stratahq/strata/services/recommendation/store"
)

// Errors of the serving calls.
var (
	// ErrMissingItem is returned for the item_detail scene without an item id.
	ErrMissingItem = errors.New("engine: the item_detail scene needs item_id")
	// ErrUnknownItem is returned by SimilarItems for an item neither the catalog nor the
	// models know.
	ErrUnknownItem = errors.New("engine: unknown item")
)

// Sources of a list.
const (
	SourceCache    = "cache"
	SourceComputed = "computed"
	SourcePopular  = "popular"
	SourceSimilar  = "similar"
	// SourceContent is a new user's list from their stated interests.
	SourceContent = "content"
	// SourceSegment is a new user's list of what is popular in their segments.
	SourceSegment = "segment"
)

const sceneHome = "home"

// Recommend answers a Recommend request; see the package doc for the sources and rules.
func (e *Engine) Recommend(ctx context.Context, req *recommendationv1.RecommendRequest) (*recommendationv1.RecommendResponse, error) {
	user := req.GetUserId()
	n := int(req.GetN())
	if n <= 0 {
		n = e.cfg.DefaultN
	}
	variant := e.Variant(user)
	snap := e.model.Load()
	var (
		cands    []candidate
		source   string
		excluded map[string]bool
		lambda   = e.cfg.MMRLambda
	)
	rctx, cancel := e.requestContext(ctx)
	defer cancel()
	switch req.GetScene() {
	case recommendationv1.Scene_SCENE_ITEM_DETAIL:
		if req.GetItemId() == "" {
			return nil, ErrMissingItem
		}
		excluded = e.excludedOf(rctx, user)
		excluded[req.GetItemId()] = true
		cands, source = e.similar(snap, []string{req.GetItemId()}, "similar to "), SourceSimilar
	case recommendationv1.Scene_SCENE_POST_PURCHASE:
		hist, err := e.store.History(rctx, user)
		if err != nil {
			e.redisFailed(ctx, err)
		}
		excluded = excludedOf(hist)
		cands, source = e.similar(snap, e.purchased(rctx, user, req, hist), "often bought with "), SourceSimilar
	default:
		if req.GetScene() == recommendationv1.Scene_SCENE_EMAIL {
			lambda = e.cfg.EmailMMRLambda
		}
		cands, source, excluded = e.personalList(ctx, rctx, user, snap)
	}
	if len(cands) == 0 {
		if excluded == nil {
			excluded = e.excludedOf(rctx, user) // an empty cached list comes without the history
		}
		cands, source = e.popularCands(excluded, req.GetFilters(), 0), SourcePopular
	}
	cands = filter(cands, req.GetFilters(), e.catalog, excluded)
	if len(cands) < n && source != SourcePopular {
		// The filters left too few: top up with popular items that pass them, never with
		// what the user has (a cached list comes without the history: read it now).
		if excluded == nil {
			excluded = e.excludedOf(rctx, user)
		}
		have := maps.Clone(excluded)
		if have == nil {
			have = map[string]bool{}
		}
		for _, c := range cands {
			have[c.item] = true
		}
		for _, c := range e.popularCands(have, req.GetFilters(), n-len(cands)) {
			c.score = -1 / (1 + c.score) // below every personal score, in popularity order
			cands = append(cands, c)
		}
	}
	picked := diversify(cands, n, lambda, e.catalog)
	resp := &recommendationv1.RecommendResponse{Items: toProto(picked), Variant: variant.Name, Source: source}
	if snap != nil {
		resp.ModelVersion = snap.version
	}
	e.requests.Add(ctx, 1, e.requestAttrs(req.GetScene().String(), source, variant.Name))
	return resp, nil
}

// requestContext returns the context of a request's Redis calls: bounded by RedisTimeout,
// and already cancelled while the breaker is open (Redis failed within RedisCooldown), so
// that a request does not wait for a Redis that is down.
func (e *Engine) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if time.Now().UnixNano() < e.redisDownUntil.Load() {
		rctx, cancel := context.WithCancelCause(ctx)
		cancel(errBreakerOpen)
		return rctx, func() {}
	}
	return context.WithTimeout(ctx, e.cfg.RedisTimeout)
}

var errBreakerOpen = errors.New("engine: Redis failed recently; serving from memory")

// redisFailed opens the breaker after a Redis error on the request path, unless the error
// is the breaker's own or the caller gave up.
func (e *Engine) redisFailed(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, errBreakerOpen) {
		return
	}
	if errors.Is(err, context.Canceled) {
		// The request context was cancelled by the open breaker (its cause) — not a new failure.
		return
	}
	if e.redisDownUntil.Swap(time.Now().Add(e.cfg.RedisCooldown).UnixNano()) < time.Now().UnixNano() {
		e.log.WarnContext(ctx, "Redis failed on the request path; serving from memory", "cooldown", e.cfg.RedisCooldown, "err", err)
	}
}

// personalList returns the user's home candidates: cached, else computed from the
// history (and cached); for a user without history, the items matching their stated
// interests, else those popular in their segments; else nothing (the caller falls back
// to popular items).
func (e *Engine) personalList(ctx, rctx context.Context, user string, snap *snapshot) ([]candidate, string, map[string]bool) {
	list, err := e.store.ListItems(rctx, user, sceneHome)
	switch {
	case err == nil:
		return fromList(list), SourceCache, nil
	case !errors.Is(err, store.ErrNotFound):
		e.redisFailed(ctx, err)
		return nil, "", nil
	}
	hist, err := e.store.History(rctx, user)
	if err != nil {
		e.redisFailed(ctx, err)
		return nil, "", nil
	}
	excluded := excludedOf(hist)
	var traits store.Traits
	if len(hist) == 0 || snap != nil {
		traits = e.traits(ctx, rctx, user)
	}
	if len(hist) == 0 {
		// A new user: the items matching their stated interests, else those popular in
		// their segments, if any.
		if cands := e.interestCands(traits.Interests, excluded); len(cands) > 0 {
			return cands, SourceContent, excluded
		}
		if cands := e.segmentCands(snap, traits.Segments, excluded, 1); len(cands) > 0 {
			return cands[:min(len(cands), e.cfg.Candidates)], SourceSegment, excluded
		}
	}
	if len(hist) == 0 || snap == nil {
		// Nothing personal to compute: the caller serves popular items minus the history.
		return nil, "", excluded
	}
	resp := e.computeList(user, hist, traits.Segments, e.now())
	if err := e.store.PutLists(rctx, sceneHome, map[string]*recommendationv1.RecommendResponse{user: resp}, e.cfg.ListTTL); err != nil {
		e.redisFailed(ctx, err)
	}
	return fromProto(resp.GetItems()), SourceComputed, excluded
}

// computeList computes a user's home candidates: the variant's model, new items by
// content, a boost for what is popular in the user's segments, topped up with popular
// items.
func (e *Engine) computeList(user string, hist []store.Entry, segments []string, now time.Time) *recommendationv1.RecommendResponse {
	snap := e.model.Load()
	variant := e.Variant(user)
	h := snap.history(hist, now, e.cfg.HalfLife)
	cands := snap.personal(variant.Model, h, e.cfg.Candidates, e.catalog)
	if cold := int(e.cfg.ColdShare * float64(e.cfg.Candidates)); cold > 0 {
		// New items the models do not know yet get a share of the list by content; a
		// perfect match ties with the best collaborative candidate.
		scale := 1.0
		if len(cands) > 0 {
			scale = cands[0].score
		}
		newItems := e.coldCands(snap, h, now, cold, scale)
		cands = append(cands[:min(len(cands), e.cfg.Candidates-len(newItems))], newItems...)
		sortCandidates(cands)
	}
	if e.cfg.SegmentBoost > 0 {
		cands = e.boostSegments(snap, segments, cands, h.excluded)
	}
	if len(cands) < e.cfg.Candidates {
		have := map[string]bool{}
		for _, c := range cands {
			have[c.item] = true
		}
		for _, c := range e.popularCands(h.excluded, nil, e.cfg.Candidates) {
			if len(cands) >= e.cfg.Candidates {
				break
			}
			if !have[c.item] {
				c.score = -1 / (1 + c.score)
				cands = append(cands, c)
			}
		}
	}
	resp := &recommendationv1.RecommendResponse{Items: toProto(cands), Variant: variant.Name}
	if snap != nil {
		resp.ModelVersion = snap.version
	}
	return resp
}

// Refresh recomputes and caches a user's home candidates from the current history.
// Before the first training there is nothing personal to cache: it drops the user's
// cached list instead (one a previous process cached may show what the user just
// bought), and requests serve popular items minus the history.
func (e *Engine) Refresh(ctx context.Context, user string) error {
	if e.model.Load() == nil {
		return e.store.DeleteList(ctx, user, sceneHome)
	}
	hist, err := e.store.History(ctx, user)
	if err != nil {
		return err
	}
	traits, err := e.store.Traits(ctx, user)
	if err != nil {
		return err
	}
	resp := e.computeList(user, hist, traits.Segments, e.now())
	return e.store.PutLists(ctx, sceneHome, map[string]*recommendationv1.RecommendResponse{user: resp}, e.cfg.ListTTL)
}

func excludedOf(hist []store.Entry) map[string]bool {
	ex := make(map[string]bool, len(hist))
	for _, en := range hist {
		ex[en.Item] = true
	}
	return ex
}

// excludedOf reads the user's history within the request budget; without it nothing is
// excluded but the request's own exclusions.
func (e *Engine) excludedOf(ctx context.Context, user string) map[string]bool {
	hist, err := e.store.History(ctx, user)
	if err != nil {
		e.redisFailed(ctx, err)
	}
	return excludedOf(hist)
}

// purchased returns the items the post-purchase scene starts from: the order's, else the
// request's item, else the user's latest purchases.
func (e *Engine) purchased(ctx context.Context, user string, req *recommendationv1.RecommendRequest, hist []store.Entry) []string {
	if id := req.GetOrderId(); id != "" {
		items, err := e.store.OrderItems(ctx, user, id)
		if err != nil {
			e.redisFailed(ctx, err)
		}
		if len(items) > 0 {
			return items
		}
	}
	if id := req.GetItemId(); id != "" {
		return []string{id}
	}
	var bought []store.Entry
	for _, en := range hist {
		if en.Kind == signal.KindPurchase && en.Owned {
			bought = append(bought, en)
		}
	}
	slices.SortFunc(bought, func(a, b store.Entry) int { return b.At.Compare(a.At) })
	var out []string
	for _, en := range bought[:min(3, len(bought))] {
		out = append(out, en.Item)
	}
	return out
}

// similar returns candidates like the given items: their item-kNN neighbours, summed over
// the items, or for items the models do not know (new items), the most popular items of
// their category. reasonPrefix precedes the quoted title of the closest source item.
func (e *Engine) similar(snap *snapshot, items []string, reasonPrefix string) []candidate {
	type acc struct {
		score, best float64
		from        string
	}
	scores := map[string]*acc{}
	var cold []string
	for _, it := range items {
		var j int32 = -1
		if snap != nil {
			if i, ok := snap.items.Index(it); ok {
				j = i
			}
		}
		nbrs, sims := []int32(nil), []float32(nil)
		if j >= 0 {
			nbrs, sims = snap.knn.Similar(j)
		}
		if len(nbrs) == 0 {
			cold = append(cold, it)
			continue
		}
		for k, nb := range nbrs {
			id := snap.items.ID(nb)
			a := scores[id]
			if a == nil {
				a = &acc{}
				scores[id] = a
			}
			s := float64(sims[k])
			a.score += s
			if s > a.best {
				a.best, a.from = s, it
			}
		}
	}
	var out []candidate
	for id, a := range scores {
		out = append(out, candidate{item: id, score: a.score, reason: reasonPrefix + quote(e.catalog.title(a.from))})
	}
	source := map[string]bool{}
	for _, it := range items {
		source[it] = true
	}
	// New items: their nearest items by content (cosines shifted above the category
	// fallback's scores, which stay below 1), then the most popular of their category.
	cm := e.content.Load()
	for _, it := range cold {
		if cm != nil {
			skip := func(id string) bool { return source[id] || scores[id] != nil }
			for _, mt := range cm.Similar(it, e.cfg.Candidates, skip) {
				scores[mt.ID] = &acc{}
				out = append(out, candidate{item: mt.ID, score: 1 + mt.Score, reason: reasonPrefix + quote(e.catalog.title(it))})
			}
		}
		m, _ := e.catalog.get(it)
		if m.category == "" {
			continue
		}
		weights := e.popular.top().weights
		for _, id := range e.catalog.inCategory(m.category) {
			if source[id] || scores[id] != nil {
				continue
			}
			scores[id] = &acc{}
			out = append(out, candidate{item: id, score: weights[id] / (1 + weights[id]), reason: "more in " + m.category})
		}
	}
	sortCandidates(out)
	return out
}

// popularCands returns, from memory, up to limit popular items (limit ≤ 0: Candidates)
// that are not excluded and pass the filters (nil: none); the whole popularity ranking is
// scanned, so a narrow filter still finds its items.
func (e *Engine) popularCands(excluded map[string]bool, f *recommendationv1.Filters, limit int) []candidate {
	if limit <= 0 {
		limit = e.cfg.Candidates
	}
	r := e.popular.top()
	sorted, weights := r.sorted, r.weights
	out := make([]candidate, 0, min(limit, len(sorted)))
	one := make([]candidate, 1)
	for _, id := range sorted {
		if len(out) >= limit {
			break
		}
		if excluded[id] {
			continue
		}
		m, _ := e.catalog.get(id)
		reason := "popular with learners"
		if m.category != "" {
			reason = "popular in " + m.category
		}
		one[0] = candidate{item: id, score: weights[id], reason: reason}
		out = append(out, filter(one, f, e.catalog, nil)...)
	}
	return out
}

// SimilarItems returns up to n items like itemID (n ≤ 0 means DefaultN).
func (e *Engine) SimilarItems(ctx context.Context, itemID string, n int) (*recommendationv1.RecommendResponse, error) {
	if n <= 0 {
		n = e.cfg.DefaultN
	}
	snap := e.model.Load()
	_, inModel := indexOf(snap, itemID)
	m, inCatalog := e.catalog.get(itemID)
	if (!inModel && !inCatalog) || m.removed {
		return nil, ErrUnknownItem
	}
	cands := e.similar(snap, []string{itemID}, "similar to ")
	cands = filter(cands, nil, e.catalog, map[string]bool{itemID: true})
	resp := &recommendationv1.RecommendResponse{Items: toProto(cands[:min(n, len(cands))]), Source: SourceSimilar}
	if snap != nil {
		resp.ModelVersion = snap.version
	}
	e.requests.Add(ctx, 1, e.requestAttrs("similar", SourceSimilar, ""))
	return resp, nil
}

func indexOf(snap *snapshot, id string) (int32, bool) {
	if snap == nil {
		return -1, false
	}
	return snap.items.Index(id)
}

// Popular returns the n most popular items (n ≤ 0 means DefaultN), decayed over time:
// what is trending; with a segment id, what is popular with the segment's members as of
// the last training (the global list when the segment has none).
func (e *Engine) Popular(ctx context.Context, segmentID string, n int) *recommendationv1.RecommendResponse {
	if n <= 0 {
		n = e.cfg.DefaultN
	}
	snap := e.model.Load()
	var cands []candidate
	if segmentID != "" {
		cands = e.segmentCands(snap, []string{segmentID}, nil, 1)
	}
	if len(cands) == 0 {
		cands = e.popularCands(nil, nil, n)
	}
	resp := &recommendationv1.RecommendResponse{Items: toProto(cands[:min(n, len(cands))]), Source: SourcePopular}
	if snap != nil {
		resp.ModelVersion = snap.version
	}
	e.requests.Add(ctx, 1, e.requestAttrs("popular", SourcePopular, ""))
	return resp
}

// requestAttrs returns the attributes of the requests counter, built once per
// combination: the hit path should not allocate them on every request. The combinations
// are few (scenes × sources × variants).
func (e *Engine) requestAttrs(scene, source, variant string) metric.AddOption {
	key := [3]string{scene, source, variant}
	if o, ok := e.attrs.Load(key); ok {
		return o.(metric.AddOption)
	}
	kv := []attribute.KeyValue{attribute.String("scene", scene), attribute.String("source", source)}
	if variant != "" {
		kv = append(kv, attribute.String("variant", variant))
	}
	o, _ := e.attrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return o.(metric.AddOption)
}
