package hybrid

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/interactions"
	"github.com/stratahq/strata/services/recommendation/itemknn"
	"github.com/stratahq/strata/services/recommendation/metric"
	"github.com/stratahq/strata/services/recommendation/popularity"
	"github.com/stratahq/strata/services/recommendation/split"
)

// Component names of the tuned blend, in weight order.
var componentNames = []string{"ease", "itemknn", "pop"}

// TuneConfig configures Tune.
type TuneConfig struct {
	// Lambdas is the grid of EASE regularisations tried on the validation split; empty
	// means DefaultLambdas.
	Lambdas []float64
	// KNN configures the item-kNN component; zero Neighbours means 100.
	KNN itemknn.Config
	// ValidationUsers is the share of users with ratings held out for validation, and
	// ValidationRatio the share of each of those users' training ratings held out; 0
	// means 0.5 and 0.2 (see Tune).
	ValidationUsers, ValidationRatio float64
	// Seed seeds the validation split.
	Seed uint64
	// K is the cut-off of the nDCG maximised on validation; 0 means 10.
	K int
	// Step is the grid step of the blend weights; 0 means 0.1.
	Step float64
	// Progress, when set, is told each stage as it starts.
	Progress func(stage string)
}

// ErrNoValidation is returned by Tune when the validation split holds no rating: users
// have too few ratings for the validation ratio.
var ErrNoValidation = errors.New("hybrid: the validation split is empty; raise the validation shares")

// DefaultLambdas is the λ grid Tune tries when none is configured.
var DefaultLambdas = []float64{100, 150, 200, 300}

// TuneResult reports what Tune chose.
type TuneResult struct {
	// Lambda is the regularisation of the final EASE, fitted on the whole training set:
	// the λ that won on the validation split.
	Lambda float64
	// LambdaNDCG maps every λ tried to its validation nDCG@k.
	LambdaNDCG map[float64]float64
	// Weights are the blend weights of ease, itemknn and pop.
	Weights []float64
	// ValidationNDCG is the blend's validation nDCG@k.
	ValidationNDCG float64
}

// String summarises r on one line.
func (r TuneResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lambda=%s", strconv.FormatFloat(r.Lambda, 'f', -1, 64))
	lambdas := slices.Sorted(maps.Keys(r.LambdaNDCG))
	b.WriteString(" (val")
	for _, l := range lambdas {
		fmt.Fprintf(&b, " %g:%.4f", l, r.LambdaNDCG[l])
	}
	b.WriteString(")")
	for i, w := range r.Weights {
		fmt.Fprintf(&b, " w_%s=%.1f", componentNames[i], w)
	}
	fmt.Fprintf(&b, " val_ndcg=%.4f", r.ValidationNDCG)
	return b.String()
}

func (c TuneConfig) withDefaults() TuneConfig {
	if len(c.Lambdas) == 0 {
		c.Lambdas = DefaultLambdas
	}
	if c.KNN.Neighbours == 0 {
		c.KNN.Neighbours = 100
	}
	if c.ValidationUsers == 0 {
		c.ValidationUsers = 0.5
	}
	if c.ValidationRatio == 0 {
		c.ValidationRatio = 0.2
	}
	if c.K == 0 {
		c.K = 10
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	return c
}

// Tune learns the hybrid for x, the binary matrix of the training ratings train: it holds
// out a validation split of train, picks EASE's λ from the grid and the blend weights of
// EASE, item-kNN and popularity by validation nDCG@k, and refits the components on x. It
// costs len(Lambdas)+1 EASE fits.
//
// The validation split holds out 20 % of the training ratings of half the users
// (split.StratifiedUsers), so the models fitted for validation see 90 % of the training
// data, close to what the final models see. Holding out a share of every user's ratings
// instead shrinks the fit data more and biases the choice: with 25 % of every user's
// ratings held out, the validation optimum on MovieLens was λ ≈ 300 while the test
// optimum was λ ≈ 150; with this split both are ≈ 150.
func Tune(ctx context.Context, x *interactions.Matrix, train []interactions.Rating, cfg TuneConfig) (*Model, TuneResult, error) {
	cfg = cfg.withDefaults()
	s, err := split.StratifiedUsers(train, cfg.ValidationUsers, cfg.ValidationRatio, cfg.Seed)
	if err != nil {
		return nil, TuneResult{}, fmt.Errorf("hybrid: validation split: %w", err)
	}
	// The fit matrix shares x's indices, so its models score x's items.
	b := interactions.NewBuilderWith(x.Users().Clone(), x.Items().Clone())
	b.Combine = func(_, _ float64) float64 { return 1 }
	for _, r := range s.Train {
		b.Add(r.User, r.Item, 1)
	}
	fit := b.Build()
	val := examples(fit, s.Test)
	if len(val) == 0 {
		return nil, TuneResult{}, ErrNoValidation
	}
	n := x.NumItems()

	res, err := validate(ctx, fit, val, cfg)
	if err != nil {
		return nil, TuneResult{}, err
	}

	cfg.Progress(fmt.Sprintf("fit ease lambda=%.0f", res.Lambda))
	scorers := make([]Scorer, len(componentNames))
	if res.Weights[0] > 0 {
		if scorers[0], err = ease.Fit(ctx, x, ease.Config{Lambda: res.Lambda}); err != nil {
			return nil, TuneResult{}, err
		}
	}
	if res.Weights[1] > 0 {
		if scorers[1], err = itemknn.Fit(ctx, x, cfg.KNN); err != nil {
			return nil, TuneResult{}, err
		}
	}
	scorers[2] = popularity.Fit(x)
	for i := range scorers {
		if scorers[i] == nil {
			scorers[i] = popularity.New(make([]float64, n))
		}
	}
	m, err := New(n, scorers, slices.Clone(res.Weights))
	return m, res, err
}

// validate picks λ and the blend weights on the validation examples; the validation
// models are garbage once it returns.
func validate(ctx context.Context, fit *interactions.Matrix, val []Example, cfg TuneConfig) (TuneResult, error) {
	n := fit.NumItems()
	res := TuneResult{LambdaNDCG: map[float64]float64{}}
	var best *ease.Model
	bestNDCG := -1.0
	for _, l := range cfg.Lambdas {
		cfg.Progress(fmt.Sprintf("validate ease lambda=%g", l))
		m, err := ease.Fit(ctx, fit, ease.Config{Lambda: l})
		if err != nil {
			return TuneResult{}, err
		}
		v, err := NDCG(ctx, n, m, val, cfg.K)
		if err != nil {
			return TuneResult{}, err
		}
		res.LambdaNDCG[l] = v
		if v > bestNDCG {
			best, bestNDCG, res.Lambda = m, v, l
		}
	}
	cfg.Progress("validate blend")
	knn, err := itemknn.Fit(ctx, fit, cfg.KNN)
	if err != nil {
		return TuneResult{}, err
	}
	res.Weights, res.ValidationNDCG, err = LearnWeights(ctx, n, []Scorer{best, knn, popularity.Fit(fit)}, val, cfg.K, cfg.Step)
	if err != nil {
		return TuneResult{}, err
	}
	return res, nil
}

// examples turns held-out ratings into validation examples over fit's indices.
func examples(fit *interactions.Matrix, held []interactions.Rating) []Example {
	byUser := map[int32]metric.Set[int32]{}
	unknown := map[string]int32{}
	for _, r := range held {
		u, ok := fit.Users().Index(r.User)
		if !ok {
			continue
		}
		i, ok := fit.Items().Index(r.Item)
		if !ok {
			if i, ok = unknown[r.Item]; !ok {
				i = -int32(len(unknown)) - 1
				unknown[r.Item] = i
			}
		}
		if byUser[u] == nil {
			byUser[u] = metric.Set[int32]{}
		}
		byUser[u][i] = struct{}{}
	}
	users := make([]int32, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	slices.Sort(users)
	out := make([]Example, 0, len(users))
	for _, u := range users {
		items, ws := fit.Row(int(u))
		out = append(out, Example{Items: items, Weights: ws, Relevant: byUser[u]})
	}
	return out
}
