package learn

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// StratifiedFolds assigns each example to one of k folds so that every fold has about
// the same share of positives, after shuffling each class with seed.
func StratifiedFolds(y []float64, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	fold := make([]int, len(y))
	for _, class := range []float64{0, 1} {
		var idx []int
		for i, v := range y {
			if v == class {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for j, i := range idx {
			fold[i] = j % k
		}
	}
	return fold
}

// CrossValPredict returns out-of-fold scores: each example scored by a model trained
// on the other folds of a stratified k-fold split.
func CrossValPredict(ctx context.Context, train Trainer, X [][]float64, y []float64, k int, seed uint64) ([]float64, error) {
	if err := checkData(X, y); err != nil {
		return nil, err
	}
	return CrossValPredictFolds(ctx, train, X, y, StratifiedFolds(y, k, seed), k)
}

// CrossValPredictFolds is CrossValPredict with given fold assignments in [0, k).
func CrossValPredictFolds(ctx context.Context, train Trainer, X [][]float64, y []float64, fold []int, k int) ([]float64, error) {
	out := make([]float64, len(y))
	for f := range k {
		var trX, teX [][]float64
		var trY []float64
		var teIdx []int
		for i := range y {
			if fold[i] == f {
				teX = append(teX, X[i])
				teIdx = append(teIdx, i)
			} else {
				trX = append(trX, X[i])
				trY = append(trY, y[i])
			}
		}
		if len(teIdx) == 0 {
			continue
		}
		m, err := train(ctx, trX, trY)
		if err != nil {
			return nil, fmt.Errorf("learn: fold %d: %w", f, err)
		}
		for j, i := range teIdx {
			out[i] = m.Predict(teX[j])
		}
	}
	return out, nil
}
