package engine

import (
	"cmp"
	"context"
	"maps"
	"slices"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/itemknn"
	"github.com/stratahq/strata/services/recommendation/metric"
	"github.com/stratahq/strata/services/recommendation/topk"
)

// qualityK is the list length the run's metrics are measured at.
const qualityK = 10

// holdout withholds each sampled user's latest interaction from a training matrix.
type holdout struct {
	// latest is each user's latest trained interaction: item and time (unix nanoseconds).
	latest map[string]heldItem
	// count is each user's trained interactions.
	count map[string]int
}

type heldItem struct {
	item string
	at   int64
}

func newHoldout() *holdout {
	return &holdout{latest: map[string]heldItem{}, count: map[string]int{}}
}

// observe notes that user is trained on item at unix nanoseconds at; ties keep the
// smallest item id so the holdout does not depend on map order.
func (h *holdout) observe(user, item string, at int64) {
	h.count[user]++
	if l, ok := h.latest[user]; !ok || at > l.at || (at == l.at && item < l.item) {
		h.latest[user] = heldItem{item, at}
	}
}

// sample returns the held-out item of up to n users with at least two interactions, in
// the order of users (the most recently active first).
func (h *holdout) sample(users []string, n int) map[string]string {
	out := map[string]string{}
	for _, u := range users {
		if len(out) >= n {
			break
		}
		if h.count[u] >= 2 {
			out[u] = h.latest[u].item
		}
	}
	return out
}

// servedModel is the model of the first variant: the one a run's metrics describe.
func (e *Engine) servedModel() string { return e.cfg.Variants[0].Model }

// runModels names the models a run fits.
func (e *Engine) runModels() []string {
	models := []string{ModelItemKNN, ModelEASE}
	if slices.ContainsFunc(e.cfg.Variants, func(v Variant) bool { return v.Model == ModelALS }) {
		models = append(models, ModelALS)
	}
	return models
}

// quality fits the served model on train (the training interactions less the held-out
// ones) and measures it and popularity on held (user → held-out item) into run. It costs
// one more fit of the served model per run, the price of metrics that are not measured
// on what the model was trained on.
func (e *Engine) quality(ctx context.Context, train *interactions.Matrix, held map[string]string, run *recommendationv1.TrainingRun) error {
	model := e.servedModel()
	knn, err := itemknn.Fit(ctx, train, e.cfg.KNN)
	if err != nil {
		return err
	}
	snap := &snapshot{items: train.Items(), knn: knn}
	switch model {
	case ModelEASE:
		if err := e.fitEASE(ctx, train, snap); err != nil {
			return err
		}
	case ModelALS:
		m, err := als.Fit(ctx, train, e.cfg.ALS)
		if err != nil {
			return err
		}
		snap.als = m
	}
	popular := popularOrder(train)
	nItems := train.NumItems()
	dst := make([]float64, nItems)
	var modelLists, popLists [][]string
	var m, p struct{ ndcg, prec, rec float64 }
	users := slices.Sorted(maps.Keys(held))
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return err
		}
		ui, ok := train.Users().Index(u)
		if !ok {
			continue
		}
		items, ws := train.Row(int(ui))
		seen := make(map[int32]bool, len(items))
		h := userHistory{items: items, weights: ws, excluded: map[string]bool{}}
		for _, i := range items {
			seen[i] = true
		}
		snap.scores(model, h, dst)
		top := topk.Select(dst, qualityK, func(j int32) bool { return dst[j] <= 0 || seen[j] })
		ranked := make([]string, len(top))
		for r, j := range top {
			ranked[r] = train.Items().ID(j)
		}
		var pop []string
		for _, j := range popular {
			if len(pop) == qualityK {
				break
			}
			if !seen[j] {
				pop = append(pop, train.Items().ID(j))
			}
		}
		rel := metric.SetOf(held[u])
		m.ndcg += metric.NDCG(ranked, rel, qualityK)
		m.prec += metric.Precision(ranked, rel, qualityK)
		m.rec += metric.Recall(ranked, rel, qualityK)
		p.ndcg += metric.NDCG(pop, rel, qualityK)
		p.prec += metric.Precision(pop, rel, qualityK)
		p.rec += metric.Recall(pop, rel, qualityK)
		modelLists = append(modelLists, ranked)
		popLists = append(popLists, pop)
	}
	n := float64(len(modelLists))
	run.Model = model
	run.HoldoutUsers = int64(n)
	if n == 0 {
		return nil
	}
	run.NdcgAt_10, run.PrecisionAt_10, run.RecallAt_10 = m.ndcg/n, m.prec/n, m.rec/n
	run.PopularityNdcgAt_10, run.PopularityPrecisionAt_10, run.PopularityRecallAt_10 = p.ndcg/n, p.prec/n, p.rec/n
	run.Coverage = metric.Coverage(modelLists, qualityK, nItems)
	run.PopularityCoverage = metric.Coverage(popLists, qualityK, nItems)
	return nil
}

// popularOrder returns train's items by descending number of users, ties by index.
func popularOrder(train *interactions.Matrix) []int32 {
	counts := train.ItemCounts()
	order := make([]int32, len(counts))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	return order
}

// mergeQuality copies the metrics of q into r.
func mergeQuality(r, q *recommendationv1.TrainingRun) {
	r.Model, r.HoldoutUsers = q.Model, q.HoldoutUsers
	r.NdcgAt_10, r.PrecisionAt_10, r.RecallAt_10, r.Coverage = q.NdcgAt_10, q.PrecisionAt_10, q.RecallAt_10, q.Coverage
	r.PopularityNdcgAt_10, r.PopularityPrecisionAt_10 = q.PopularityNdcgAt_10, q.PopularityPrecisionAt_10
	r.PopularityRecallAt_10, r.PopularityCoverage = q.PopularityRecallAt_10, q.PopularityCoverage
}
