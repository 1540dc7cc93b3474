// Package demand predicts category demand: the catalog categories a user is most likely
// to buy from next. The model is a mixture of four distributions over the categories,
// each one a reason people can read:
//
//   - popularity: the categories' shares of all purchases (the prior);
//   - purchase history: the user's own purchases per category, decayed with a half-life
//     (90 days by default), so that what a user bought recently counts most;
//   - category transition: where buyers of the categories of the user's last order went
//     next (a first-order Markov chain over orders, smoothed towards popularity);
//   - interests: the user's non-purchase interactions per category (views, lessons,
//     favourites, ratings), decayed with the profile service's interest half-life (30
//     days) — the profile's interest weights, recomputed from the events so that
//     training reads them as they were at each purchase.
//
// P(c | user) = Σ_k w_k · P_k(c | user). A component the user has no data for (no
// purchase yet, no interaction) is replaced by popularity, so a new user gets the
// prior. The mixture weights w are fitted by expectation-maximisation to the purchases
// before the training cutoff, each predicted from the user's events strictly before it
// (and from a transition matrix without that purchase, leave-one-out): a
// maximum-likelihood fit with a closed-form E and M step. Because the score is a sum,
// w_k · P_k(c) is an exact additive explanation of it.
//
// A Model is immutable after Fit and safe for concurrent use.
package demand

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stratahq/strata/services/prediction/features"
)

// Component names one part of the mixture.
type Component int

// The mixture's components.
const (
	Popularity Component = iota
	History
	Transition
	Interest
	// NumComponents is the number of components.
	NumComponents
)

// Names are the components' names, as explanations show them.
var Names = [NumComponents]string{"popularity", "purchase_history", "category_transition", "interests"}

// ErrNoPurchases is returned by Fit when no order before the cutoff names a category.
var ErrNoPurchases = errors.New("demand: no purchases with categories before the cutoff")

// Config tunes Fit; zero fields take the defaults.
type Config struct {
	// HistoryHalfLife decays the user's purchases; default 90 days.
	HistoryHalfLife time.Duration
	// InterestHalfLife decays interactions; default 30 days (the profile's).
	InterestHalfLife time.Duration
	// Smoothing is the pseudo-count of popularity added to every row of the
	// transition matrix; default 5.
	Smoothing float64
	// Iterations bounds the EM iterations; default 200.
	Iterations int
}

func (c Config) withDefaults() Config {
	if c.HistoryHalfLife <= 0 {
		c.HistoryHalfLife = 90 * 24 * time.Hour
	}
	if c.InterestHalfLife <= 0 {
		c.InterestHalfLife = 30 * 24 * time.Hour
	}
	if c.Smoothing <= 0 {
		c.Smoothing = 5
	}
	if c.Iterations <= 0 {
		c.Iterations = 200
	}
	return c
}

// Model is a fitted category-demand model; it serialises to JSON for the registry.
type Model struct {
	// Categories is the vocabulary, most purchased first.
	Categories []string `json:"categories"`
	// Popularity[c] is category c's share of purchases (add-one smoothed).
	Popularity []float64 `json:"popularity"`
	// Transition[a][b] is P(next order in b | last order in a).
	Transition [][]float64 `json:"transition"`
	// Weights are the mixture weights, indexed by Component.
	Weights []float64 `json:"weights"`
	// HistoryHalfLifeHours and InterestHalfLifeHours are the decays used.
	HistoryHalfLifeHours  float64 `json:"history_half_life_hours"`
	InterestHalfLifeHours float64 `json:"interest_half_life_hours"`
	// Examples is the number of purchases the weights were fitted to.
	Examples int `json:"examples"`
}

// Score is one category's probability for a user, split by component.
type Score struct {
	Category    string
	Probability float64
	// Parts[k] = Weights[k] · Values[k]; they add up to Probability.
	Parts [NumComponents]float64
	// Values[k] is P_k(category | user).
	Values [NumComponents]float64
	// Fallback[k] says the user had no data for component k, so popularity stood in.
	Fallback [NumComponents]bool
}

// Fit fits a model to the orders before cutoff of every state.
func Fit(ctx context.Context, states map[string]*features.State, cutoff time.Time, cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	counts := map[string]float64{}
	histories := make([][]features.CategoryEvent, 0, len(states))
	users := make([]*features.State, 0, len(states))
	for _, s := range states {
		orders := s.CategoryOrders(cutoff)
		if len(orders) == 0 {
			continue
		}
		for _, o := range orders {
			for _, c := range o.Categories {
				counts[c] += 1 / float64(len(o.Categories))
			}
		}
		histories = append(histories, orders)
		users = append(users, s)
	}
	if len(counts) == 0 {
		return nil, ErrNoPurchases
	}
	m := &Model{HistoryHalfLifeHours: cfg.HistoryHalfLife.Hours(), InterestHalfLifeHours: cfg.InterestHalfLife.Hours()}
	for c := range counts {
		m.Categories = append(m.Categories, c)
	}
	slices.SortFunc(m.Categories, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	idx := m.index()
	n := len(m.Categories)
	var total float64
	for _, v := range counts {
		total += v
	}
	m.Popularity = make([]float64, n)
	for i, c := range m.Categories {
		m.Popularity[i] = (counts[c] + 1) / (total + float64(n))
	}
	trans := make([][]float64, n)
	for i := range trans {
		trans[i] = make([]float64, n)
	}
	for _, orders := range histories {
		for i := 1; i < len(orders); i++ {
			prev, cur := orders[i-1].Categories, orders[i].Categories
			w := 1 / float64(len(prev)*len(cur))
			for _, a := range prev {
				for _, b := range cur {
					trans[idx[a]][idx[b]] += w
				}
			}
		}
	}
	raw := make([][]float64, n)
	rows := make([]float64, n)
	for a := range trans {
		raw[a] = slices.Clone(trans[a])
		for _, v := range trans[a] {
			rows[a] += v
		}
		for b := range trans[a] {
			trans[a][b] = (trans[a][b] + cfg.Smoothing*m.Popularity[b]) / (rows[a] + cfg.Smoothing)
		}
	}
	m.Transition = trans
	// leaveOneOut is the transition distribution after prev with the counted
	// transition prev → cur taken out, so that no example predicts itself.
	leaveOneOut := func(prev, cur []string) []float64 {
		d := make([]float64, n)
		own := 1 / float64(len(prev)*len(cur))
		for _, a := range prev {
			i := idx[a]
			row := rows[i] - own*float64(len(cur))
			for b := range d {
				c := raw[i][b]
				if slices.Contains(cur, m.Categories[b]) {
					c -= own
				}
				d[b] += (math.Max(c, 0) + cfg.Smoothing*m.Popularity[b]) / (math.Max(row, 0) + cfg.Smoothing)
			}
		}
		return normalise(d)
	}

	// One example per (order, category): the components at the order's time.
	type example struct {
		p [NumComponents]float64
		w float64
	}
	var examples []example
	for u, orders := range histories {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for i, o := range orders {
			comp := m.components(users[u], o.At, idx)
			if i > 0 {
				comp.dist[Transition] = leaveOneOut(orders[i-1].Categories, o.Categories)
			}
			for _, c := range o.Categories {
				var e example
				for k := range NumComponents {
					e.p[k] = comp.dist[k][idx[c]]
				}
				e.w = 1 / float64(len(o.Categories))
				examples = append(examples, e)
			}
		}
	}
	m.Examples = len(examples)
	w := make([]float64, NumComponents)
	for k := range w {
		w[k] = 1 / float64(NumComponents)
	}
	resp := make([]float64, NumComponents)
	for range cfg.Iterations {
		clear(resp)
		var sumW float64
		for _, e := range examples {
			var z float64
			for k := range NumComponents {
				z += w[k] * e.p[k]
			}
			if z <= 0 {
				continue
			}
			for k := range NumComponents {
				resp[k] += e.w * w[k] * e.p[k] / z
			}
			sumW += e.w
		}
		var moved float64
		for k := range w {
			next := resp[k] / sumW
			moved = math.Max(moved, math.Abs(next-w[k]))
			w[k] = next
		}
		if moved < 1e-7 {
			break
		}
	}
	m.Weights = w
	return m, nil
}

func (m *Model) index() map[string]int {
	idx := make(map[string]int, len(m.Categories))
	for i, c := range m.Categories {
		idx[c] = i
	}
	return idx
}

type components struct {
	dist     [NumComponents][]float64
	fallback [NumComponents]bool
}

// components computes the four distributions for a user as of asOf, from events
// strictly before it.
func (m *Model) components(s *features.State, asOf time.Time, idx map[string]int) components {
	n := len(m.Categories)
	var out components
	out.dist[Popularity] = m.Popularity
	decayed := func(evs []features.CategoryEvent, halfLifeHours float64) []float64 {
		var d []float64
		for _, e := range evs {
			age := asOf.Sub(e.At).Hours()
			wt := math.Exp2(-age/halfLifeHours) / float64(len(e.Categories))
			for _, c := range e.Categories {
				if i, ok := idx[c]; ok {
					if d == nil {
						d = make([]float64, n)
					}
					d[i] += wt
				}
			}
		}
		return normalise(d)
	}
	orders := s.CategoryOrders(asOf)
	out.dist[History] = decayed(orders, m.HistoryHalfLifeHours)
	out.dist[Interest] = decayed(s.CategoryInteractions(asOf), m.InterestHalfLifeHours)
	if len(orders) > 0 {
		last := orders[len(orders)-1].Categories
		var d []float64
		for _, a := range last {
			if i, ok := idx[a]; ok {
				if d == nil {
					d = make([]float64, n)
				}
				for b, v := range m.Transition[i] {
					d[b] += v
				}
			}
		}
		out.dist[Transition] = normalise(d)
	}
	for k := range NumComponents {
		if out.dist[k] == nil {
			out.dist[k], out.fallback[k] = m.Popularity, true
		}
	}
	return out
}

func normalise(d []float64) []float64 {
	var s float64
	for _, v := range d {
		s += v
	}
	if s <= 0 {
		return nil
	}
	for i := range d {
		d[i] /= s
	}
	return d
}

// Predict returns every category's probability that the user's next purchase is in
// it, as of asOf (events strictly before it), most likely first.
func (m *Model) Predict(s *features.State, asOf time.Time) []Score {
	comp := m.components(s, asOf, m.index())
	out := make([]Score, len(m.Categories))
	for i, c := range m.Categories {
		sc := Score{Category: c, Fallback: comp.fallback}
		for k := range NumComponents {
			sc.Values[k] = comp.dist[k][i]
			sc.Parts[k] = m.Weights[k] * sc.Values[k]
			sc.Probability += sc.Parts[k]
		}
		out[i] = sc
	}
	slices.SortStableFunc(out, func(a, b Score) int { return cmp.Compare(b.Probability, a.Probability) })
	return out
}

// Sentence says in plain words what component k did for the category, such as
// "purchases in design (60% of recent ones) added 0.32".
func (sc Score) Sentence(k Component) string {
	v, part := sc.Values[k]*100, sc.Parts[k]
	switch {
	case k == Popularity:
		return fmt.Sprintf("%s is %.0f%% of all purchases: added %.2f", sc.Category, v, part)
	case sc.Fallback[k] && k == Interest:
		return fmt.Sprintf("no recent browsing or learning to go on, so popularity stood in: added %.2f", part)
	case sc.Fallback[k]:
		return fmt.Sprintf("no purchase yet, so popularity stood in for %s: added %.2f", spaced(Names[k]), part)
	case k == History:
		return fmt.Sprintf("purchases in %s (%.0f%% of recent ones) added %.2f", sc.Category, v, part)
	case k == Transition:
		return fmt.Sprintf("after the last order, %.0f%% of buyers next buy %s: added %.2f", v, sc.Category, part)
	}
	return fmt.Sprintf("interest in %s (%.0f%% of recent activity) added %.2f", sc.Category, v, part)
}

// Main returns the component that contributed most.
func (sc Score) Main() Component {
	best := Popularity
	for k := range NumComponents {
		if sc.Parts[k] > sc.Parts[best] {
			best = k
		}
	}
	return best
}

func spaced(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '_' {
			b[i] = ' '
		}
	}
	return string(b)
}

// Evaluation measures a model on the purchases after a cutoff.
type Evaluation struct {
	// Users is the number of users with a purchase in the window.
	Users int `json:"users"`
	// HitRate is the share of those users whose first purchase in the window is in
	// one of their top K predicted categories; PopularityHitRate is the same for the
	// K most popular categories, the baseline.
	K                 int     `json:"k"`
	HitRate           float64 `json:"hit_rate"`
	PopularityHitRate float64 `json:"popularity_hit_rate"`
	// LogLoss and PopularityLogLoss are the mean negative log-probability of the
	// purchased categories.
	LogLoss           float64 `json:"log_loss"`
	PopularityLogLoss float64 `json:"popularity_log_loss"`
}

// Evaluate scores users as of from and checks their first purchase in [from, to)
// against the top k categories.
func (m *Model) Evaluate(states map[string]*features.State, from, to time.Time, k int) Evaluation {
	ev := Evaluation{K: k}
	idx := m.index()
	popTop := m.Categories[:min(k, len(m.Categories))]
	var n float64
	for _, s := range states {
		next := s.CategoryOrdersBetween(from, to)
		if len(next) == 0 {
			continue
		}
		ev.Users++
		target := next[0].Categories
		scores := m.Predict(s, from)
		top := scores[:min(k, len(scores))]
		if slices.ContainsFunc(top, func(sc Score) bool { return slices.Contains(target, sc.Category) }) {
			ev.HitRate++
		}
		if slices.ContainsFunc(popTop, func(c string) bool { return slices.Contains(target, c) }) {
			ev.PopularityHitRate++
		}
		prob := make(map[string]float64, len(scores))
		for _, sc := range scores {
			prob[sc.Category] = sc.Probability
		}
		floor := 1e-6
		for _, c := range target {
			pop := floor
			if i, ok := idx[c]; ok {
				pop = m.Popularity[i]
			}
			ev.LogLoss -= math.Log(math.Max(prob[c], floor))
			ev.PopularityLogLoss -= math.Log(pop)
			n++
		}
	}
	if ev.Users > 0 {
		ev.HitRate /= float64(ev.Users)
		ev.PopularityHitRate /= float64(ev.Users)
		ev.LogLoss /= n
		ev.PopularityLogLoss /= n
	}
	return ev
}
