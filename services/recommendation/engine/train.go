package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/timestamppb"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/itemknn"
	"github.com/stratahq/strata/services/recommendation/signal"
	"github.com/stratahq/strata/services/recommendation/store"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// snapshot is one trained set of models over one item index; immutable.
type snapshot struct {
	version   string
	items     *interactions.Dict
	knn       *itemknn.Model
	ease      *ease.Model // nil when too few items
	easeOf    []int32     // item index → EASE index, −1 when not in EASE
	easeItems []int32     // EASE index → item index
	als       *als.Model  // nil unless a variant uses it
	// segments are the popular items per segment id, from the members' histories.
	segments map[string]*ranking
}

// userHistory is a user's history over a snapshot's items.
type userHistory struct {
	items   []int32
	weights []float64
	kinds   map[int32]signal.Kind
	// excluded are every item of the history: seen items are not recommended again, and
	// owned or negative ones never.
	excluded map[string]bool
	entries  []store.Entry
}

func (s *snapshot) history(entries []store.Entry, now time.Time, halfLife time.Duration) userHistory {
	h := userHistory{kinds: map[int32]signal.Kind{}, excluded: make(map[string]bool, len(entries)), entries: entries}
	type iw struct {
		i int32
		w float64
	}
	var known []iw
	for _, e := range entries {
		h.excluded[e.Item] = true
		if e.Negative || s == nil {
			continue
		}
		i, ok := s.items.Index(e.Item)
		if !ok {
			continue
		}
		if w := signal.Decay(e.Weight, e.At, now, halfLife); w > minWeight {
			known = append(known, iw{i, math.Log1p(w)})
			h.kinds[i] = e.Kind
		}
	}
	slices.SortFunc(known, func(a, b iw) int { return cmp.Compare(a.i, b.i) })
	for _, k := range known {
		h.items = append(h.items, k.i)
		h.weights = append(h.weights, k.w)
	}
	return h
}

// minWeight drops interactions decayed to noise (about 9 half-lives of a view).
const minWeight = 2e-3

// scores writes the model's score of every item for h into dst.
func (s *snapshot) scores(model string, h userHistory, dst []float64) {
	if model == ModelALS && s.als != nil {
		s.als.ScoreHistory(h.items, h.weights, dst)
		return
	}
	if model == ModelEASE && s.ease != nil {
		var eItems []int32
		var eW []float64
		for k, i := range h.items {
			if e := s.easeOf[i]; e >= 0 {
				eItems = append(eItems, e)
				eW = append(eW, h.weights[k])
			}
		}
		tmp := make([]float64, s.ease.NumItems())
		s.ease.Score(eItems, eW, tmp)
		clear(dst)
		for e, v := range tmp {
			dst[s.easeItems[e]] = v
		}
		return
	}
	s.knn.Score(h.items, h.weights, dst)
}

// personal returns up to limit candidates for h with the variant's model, each with the
// reason naming the history item that contributed most.
func (s *snapshot) personal(model string, h userHistory, limit int, cat *catalog) []candidate {
	if s == nil || len(h.items) == 0 {
		return nil
	}
	dst := make([]float64, s.items.Len())
	s.scores(model, h, dst)
	top := topk.Select(dst, limit, func(j int32) bool {
		return dst[j] <= 0 || h.excluded[s.items.ID(j)] || isRemoved(cat, s.items.ID(j))
	})
	out := make([]candidate, len(top))
	for r, j := range top {
		out[r] = candidate{item: s.items.ID(j), score: dst[j], reason: s.reason(model, h, j, cat)}
	}
	return out
}

func isRemoved(cat *catalog, id string) bool {
	m, _ := cat.get(id)
	return m.removed
}

// reason explains item j by the history item with the largest contribution to its score.
func (s *snapshot) reason(model string, h userHistory, j int32, cat *catalog) string {
	best, bestV := int32(-1), 0.0
	switch {
	case model == ModelALS && s.als != nil:
		for k, i := range h.items {
			if v := h.weights[k] * s.als.Similarity(i, j); v > bestV {
				best, bestV = i, v
			}
		}
	case model == ModelEASE && s.ease != nil && s.easeOf[j] >= 0:
		ej := int(s.easeOf[j])
		for k, i := range h.items {
			if ei := s.easeOf[i]; ei >= 0 {
				if v := h.weights[k] * s.ease.Weight(int(ei), ej); v > bestV {
					best, bestV = i, v
				}
			}
		}
	default:
		nbrs, sims := s.knn.Similar(j)
		for n, nb := range nbrs {
			if k, ok := slices.BinarySearch(h.items, nb); ok {
				if v := h.weights[k] * float64(sims[n]); v > bestV {
					best, bestV = nb, v
				}
			}
		}
	}
	if best < 0 {
		return "recommended for you"
	}
	t := quote(cat.title(s.items.ID(best)))
	switch h.kinds[best] {
	case signal.KindPurchase:
		return "because you bought " + t
	case signal.KindLessonCompleted:
		return "because you completed " + t
	case signal.KindRatedPositive:
		return "because you rated " + t + " highly"
	case signal.KindFavourite:
		return "because you saved " + t
	case signal.KindLessonStarted:
		return "because you are learning " + t
	case signal.KindCart:
		return "because you added " + t + " to your cart"
	}
	return "because you viewed " + t
}

// Train trains new models now and waits for the run to finish; a run already in progress
// is waited for instead. It returns the run's report. Cancelling ctx stops the wait, not
// the run: runs stop when the engine is closed.
func (e *Engine) Train(ctx context.Context) (*recommendationv1.TrainingRun, error) {
	done, started := e.startTraining()
	if !started && done == nil {
		return e.LastRun(), nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return e.LastRun(), ctx.Err()
	}
	run := e.LastRun()
	if run.GetStatus() == recommendationv1.TrainingStatus_TRAINING_STATUS_FAILED {
		return run, fmt.Errorf("engine: training failed: %s", run.GetError())
	}
	return run, nil
}

// ListRuns returns up to limit finished runs recorded by any instance, newest first.
func (e *Engine) ListRuns(ctx context.Context, limit int) ([]*recommendationv1.TrainingRun, error) {
	return e.store.Runs(ctx, limit)
}

// StartTraining starts a run in the background (unless one is running) and returns its
// report so far.
func (e *Engine) StartTraining() *recommendationv1.TrainingRun {
	e.startTraining()
	return e.LastRun()
}

// LastRun returns the report of the current or latest run, nil before the first.
func (e *Engine) LastRun() *recommendationv1.TrainingRun { return cloneRun(e.run.Load()) }

// startTraining returns a channel closed when the run in progress (new or not) ends.
func (e *Engine) startTraining() (<-chan struct{}, bool) {
	if !e.trainMu.TryLock() {
		e.runMu.Lock()
		defer e.runMu.Unlock()
		return e.runDone, false
	}
	done := make(chan struct{})
	e.runMu.Lock()
	e.runDone = done
	e.runMu.Unlock()
	run := &recommendationv1.TrainingRun{
		Id: e.newRunID(), Status: recommendationv1.TrainingStatus_TRAINING_STATUS_RUNNING,
		StartedAt: timestamppb.New(e.now()), Stage: "load",
	}
	e.run.Store(run)
	go func() {
		defer close(done)
		defer e.trainMu.Unlock()
		e.train(e.lifetime, run.GetId())
	}()
	return done, true
}

func (e *Engine) update(f func(r *recommendationv1.TrainingRun)) {
	r := cloneRun(e.run.Load())
	f(r)
	e.run.Store(r)
}

func (e *Engine) train(ctx context.Context, id string) {
	start := time.Now()
	applied := e.applied.Load()
	err := e.trainOnce(ctx, id)
	outcome := "succeeded"
	e.update(func(r *recommendationv1.TrainingRun) {
		r.FinishedAt = timestamppb.New(e.now())
		r.DurationSeconds = time.Since(start).Seconds()
		r.Status = recommendationv1.TrainingStatus_TRAINING_STATUS_SUCCEEDED
		if err != nil {
			r.Status, r.Error = recommendationv1.TrainingStatus_TRAINING_STATUS_FAILED, err.Error()
			outcome = "failed"
		}
	})
	// The record outlives the engine's lifetime by a moment: a run ended by Close is
	// still worth recording.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if rerr := e.store.AddRun(rctx, e.run.Load(), e.cfg.KeepRuns); rerr != nil {
		e.log.Warn("recording the training run failed", "run", id, "err", rerr)
	}
	cancel()
	if err == nil {
		e.trained.Store(applied)
		r := e.run.Load()
		e.log.Info("recommendation models trained", "run", id, "users", r.GetUsers(), "items", r.GetItems(),
			"interactions", r.GetInteractions(), "ease_items", r.GetEaseItems(), "lists", r.GetListsWritten(),
			"seconds", r.GetDurationSeconds())
	} else {
		e.log.Warn("recommendation training failed", "run", id, "err", err)
	}
	e.trainDur.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (e *Engine) trainOnce(ctx context.Context, id string) error {
	now := e.now()
	if err := e.LoadCatalog(ctx); err != nil {
		return err
	}
	e.update(func(r *recommendationv1.TrainingRun) { r.Stage = "content" })
	if err := e.RefreshContent(ctx); err != nil {
		return err
	}
	users, err := e.store.ActiveUsers(ctx, e.cfg.MaxTrainUsers, now.Add(-e.cfg.TrainWindow))
	if err != nil {
		return err
	}
	hists, err := e.store.Histories(ctx, users)
	if err != nil {
		return err
	}
	b := interactions.NewBuilder()
	popw := map[string]float64{}
	ho := newHoldout()
	type trained struct {
		user, item string
		w          float64
	}
	var all []trained
	for _, u := range users {
		for _, en := range hists[u] {
			if en.Negative || isRemoved(e.catalog, en.Item) {
				continue
			}
			w := signal.Decay(en.Weight, en.At, now, e.cfg.HalfLife)
			if w <= minWeight {
				continue
			}
			b.Add(u, en.Item, math.Log1p(w))
			popw[en.Item] += w
			ho.observe(u, en.Item, en.At.UnixNano())
			all = append(all, trained{u, en.Item, math.Log1p(w)})
		}
	}
	x := b.Build()
	e.update(func(r *recommendationv1.TrainingRun) {
		r.Users, r.Items, r.Interactions, r.Stage = int64(x.NumUsers()), int64(x.NumItems()), int64(x.NNZ()), "evaluate"
		r.Models = e.runModels()
	})
	if held := ho.sample(users, e.cfg.HoldoutUsers); len(held) > 0 {
		tb := interactions.NewBuilder()
		for _, t := range all {
			if held[t.user] != t.item {
				tb.Add(t.user, t.item, t.w)
			}
		}
		q := &recommendationv1.TrainingRun{}
		if err := e.quality(ctx, tb.Build(), held, q); err != nil {
			return err
		}
		e.update(func(r *recommendationv1.TrainingRun) { mergeQuality(r, q) })
	}
	e.update(func(r *recommendationv1.TrainingRun) { r.Stage = "itemknn" })
	snap, err := e.fitModels(ctx, x, id)
	if err != nil {
		return err
	}
	traits, err := e.store.TraitsOf(ctx, users)
	if err != nil {
		return err
	}
	snap.segments = e.segmentRankings(hists, traits, now)
	e.model.Store(snap)
	e.popular.reset(popw, now)
	e.update(func(r *recommendationv1.TrainingRun) {
		r.Stage, r.ModelVersion = "precompute", id
		if snap.ease != nil {
			r.EaseItems = int64(snap.ease.NumItems())
		}
	})
	written, err := e.precompute(ctx, now, hists, traits)
	e.update(func(r *recommendationv1.TrainingRun) { r.ListsWritten = int64(written) })
	return err
}

// fitModels fits item-kNN and EASE on x, and ALS when a variant uses it.
func (e *Engine) fitModels(ctx context.Context, x *interactions.Matrix, id string) (*snapshot, error) {
	knn, err := itemknn.Fit(ctx, x, e.cfg.KNN)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{version: id, items: x.Items(), knn: knn}
	e.update(func(r *recommendationv1.TrainingRun) { r.Stage = "ease" })
	if err := e.fitEASE(ctx, x, snap); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(e.cfg.Variants, func(v Variant) bool { return v.Model == ModelALS }) {
		e.update(func(r *recommendationv1.TrainingRun) { r.Stage = "als" })
		m, err := als.Fit(ctx, x, e.cfg.ALS)
		if err != nil {
			return nil, err
		}
		snap.als = m
	}
	return snap, nil
}

// fitEASE fits EASE on the MaxEASEItems most popular items of x.
func (e *Engine) fitEASE(ctx context.Context, x *interactions.Matrix, snap *snapshot) error {
	order := popularOrder(x)
	order = order[:min(len(order), e.cfg.MaxEASEItems)]
	if len(order) < 2 {
		return nil
	}
	slices.Sort(order)
	snap.easeOf = make([]int32, x.NumItems())
	for i := range snap.easeOf {
		snap.easeOf[i] = -1
	}
	ids := make([]string, len(order))
	for k, i := range order {
		snap.easeOf[i] = int32(k)
		ids[k] = x.Items().ID(i)
	}
	snap.easeItems = order
	b := interactions.NewBuilderWith(interactions.NewDict(), interactions.DictOf(ids...))
	for u := range x.NumUsers() {
		items, ws := x.Row(u)
		for k, i := range items {
			if snap.easeOf[i] >= 0 {
				b.Add(x.Users().ID(int32(u)), x.Items().ID(i), ws[k])
			}
		}
	}
	m, err := ease.Fit(ctx, b.Build(), e.cfg.EASE)
	if err != nil {
		return err
	}
	snap.ease = m
	return nil
}

// precompute writes the home candidates of the users active within ActiveWindow.
func (e *Engine) precompute(ctx context.Context, now time.Time, hists map[string][]store.Entry, traits map[string]store.Traits) (int, error) {
	users, err := e.store.ActiveUsers(ctx, e.cfg.MaxPrecompute, now.Add(-e.cfg.ActiveWindow))
	if err != nil {
		return 0, err
	}
	var missing []string
	for _, u := range users {
		if _, ok := hists[u]; !ok {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		more, err := e.store.Histories(ctx, missing)
		if err != nil {
			return 0, err
		}
		for u, h := range more {
			hists[u] = h
		}
		moreTraits, err := e.store.TraitsOf(ctx, missing)
		if err != nil {
			return 0, err
		}
		for u, t := range moreTraits {
			traits[u] = t
		}
	}
	written := 0
	const batch = 1000
	for lo := 0; lo < len(users); lo += batch {
		lists := map[string]*recommendationv1.RecommendResponse{}
		for _, u := range users[lo:min(lo+batch, len(users))] {
			if err := ctx.Err(); err != nil {
				return written, err
			}
			lists[u] = e.computeList(u, hists[u], traits[u].Segments, now)
		}
		if err := e.store.PutLists(ctx, sceneHome, lists, e.cfg.ListTTL); err != nil {
			return written, err
		}
		written += len(lists)
	}
	return written, nil
}

// RunTrainer trains every interval while events were applied since the last run, the
// first time after delay, and refits the content model every ContentInterval when the
// catalog changed, until ctx is done.
func (e *Engine) RunTrainer(ctx context.Context, delay, interval time.Duration) error {
	if interval <= 0 {
		return errors.New("engine: training interval must be positive")
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	tick := time.NewTicker(e.cfg.ContentInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := e.RefreshContent(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("content model refresh failed", "err", err)
			}
			continue
		case <-timer.C:
		}
		if e.applied.Load() != e.trained.Load() || e.model.Load() == nil {
			if _, err := e.Train(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("scheduled training failed", "err", err)
			}
		}
		timer.Reset(interval)
	}
}
