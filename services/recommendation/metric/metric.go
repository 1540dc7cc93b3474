// Package metric scores ranked recommendation lists against held-out relevant items:
// precision, recall, nDCG and average precision at a cut-off k (binary relevance), and the
// list-set measures catalog coverage and novelty.
//
// Conventions (those of the reference figures): precision@k divides the hits by k even
// when the list is shorter; recall@k divides by the number of relevant items; nDCG@k uses
// gains 1/log2(rank+1) and the ideal DCG of min(k, |relevant|) hits; AP@k divides by
// min(k, |relevant|). A user without relevant items scores 0 and should be left out of
// averages by the caller. Functions are pure and safe for concurrent use.
package metric

import "math"

// Set is a set of relevant items.
type Set[T comparable] map[T]struct{}

// SetOf returns the set of items.
func SetOf[T comparable](items ...T) Set[T] {
	s := make(Set[T], len(items))
	for _, it := range items {
		s[it] = struct{}{}
	}
	return s
}

func hits[T comparable](ranked []T, relevant Set[T], k int) int {
	n := 0
	for _, it := range ranked[:min(k, len(ranked))] {
		if _, ok := relevant[it]; ok {
			n++
		}
	}
	return n
}

// Precision is the share of the first k recommendations that are relevant.
func Precision[T comparable](ranked []T, relevant Set[T], k int) float64 {
	if k <= 0 {
		return 0
	}
	return float64(hits(ranked, relevant, k)) / float64(k)
}

// Recall is the share of the relevant items found in the first k recommendations.
func Recall[T comparable](ranked []T, relevant Set[T], k int) float64 {
	if len(relevant) == 0 {
		return 0
	}
	return float64(hits(ranked, relevant, k)) / float64(len(relevant))
}

// discount is the gain of a hit at 0-based position i.
func discount(i int) float64 { return 1 / math.Log2(float64(i)+2) }

// NDCG is the discounted cumulative gain of the first k recommendations divided by that
// of an ideal list.
func NDCG[T comparable](ranked []T, relevant Set[T], k int) float64 {
	if len(relevant) == 0 || k <= 0 {
		return 0
	}
	var dcg, idcg float64
	for i, it := range ranked[:min(k, len(ranked))] {
		if _, ok := relevant[it]; ok {
			dcg += discount(i)
		}
	}
	for i := range min(k, len(relevant)) {
		idcg += discount(i)
	}
	return dcg / idcg
}

// AveragePrecision is AP@k: the mean of precision@i over the ranks i ≤ k holding a hit,
// divided by min(k, |relevant|). Its mean over users is MAP@k.
func AveragePrecision[T comparable](ranked []T, relevant Set[T], k int) float64 {
	if len(relevant) == 0 || k <= 0 {
		return 0
	}
	var sum float64
	n := 0
	for i, it := range ranked[:min(k, len(ranked))] {
		if _, ok := relevant[it]; ok {
			n++
			sum += float64(n) / float64(i+1)
		}
	}
	return sum / float64(min(k, len(relevant)))
}

// Coverage is the share of a catalog of catalogSize items that appears in at least one of
// the lists' first k recommendations.
func Coverage[T comparable](lists [][]T, k, catalogSize int) float64 {
	if catalogSize <= 0 {
		return 0
	}
	seen := Set[T]{}
	for _, l := range lists {
		for _, it := range l[:min(k, len(l))] {
			seen[it] = struct{}{}
		}
	}
	return float64(len(seen)) / float64(catalogSize)
}

// Novelty is the mean self-information −log2(p) of the lists' first k recommendations,
// where p is the share of the users who interacted with the item (popularity returns
// that count, users the total); rarely seen items are novel. An item no user was seen
// with counts as seen by one.
func Novelty[T comparable](lists [][]T, k int, popularity func(T) int, users int) float64 {
	if users <= 0 {
		return 0
	}
	var sum float64
	n := 0
	for _, l := range lists {
		for _, it := range l[:min(k, len(l))] {
			c := max(popularity(it), 1)
			sum += -math.Log2(float64(c) / float64(users))
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
