// Package content is the content-based recommender: TF-IDF vectors over each item's
// title, description, tags and category, with Chinese word segmentation and English
// tokenisation (see Tokenizer), compared by cosine similarity. It needs no interactions,
// so it serves what collaborative models cannot: items nobody has used yet (cold start)
// and users who have only stated their interests.
//
// Weighting: a term's frequency in an item counts title, tag and category terms twice
// and description terms once, damped as 1 + ln(tf); its inverse document frequency is
// ln((1+N)/(1+df)) + 1; item vectors are L2-normalised. A Model is immutable and safe for
// concurrent use; a Builder caches the tokens of unchanged documents between fits and is
// safe for concurrent use.
package content

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sync"

	"github.com/stratahq/strata/services/recommendation/topk"
)

// Document is the text of one item.
type Document struct {
	ID, Title, Description, Category string
	Tags                             []string
}

func (d Document) fingerprint() uint64 {
	h := fnv.New64a()
	for _, s := range append([]string{d.Title, d.Description, d.Category}, d.Tags...) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// Weights of the fields in a term's frequency.
const (
	weightTitle       = 2
	weightTag         = 2
	weightCategory    = 2
	weightDescription = 1
)

// Builder fits models, re-tokenising only the documents that changed since its last fit.
type Builder struct {
	tok   *Tokenizer
	mu    sync.Mutex
	cache map[string]cachedTerms
}

type cachedTerms struct {
	fp    uint64
	terms map[string]float64
}

// NewBuilder returns a builder tokenising with tok.
func NewBuilder(tok *Tokenizer) *Builder {
	return &Builder{tok: tok, cache: map[string]cachedTerms{}}
}

// Tokenizer returns the builder's tokenizer.
func (b *Builder) Tokenizer() *Tokenizer { return b.tok }

func (b *Builder) termsOf(d Document) map[string]float64 {
	fp := d.fingerprint()
	b.mu.Lock()
	c, ok := b.cache[d.ID]
	b.mu.Unlock()
	if ok && c.fp == fp {
		return c.terms
	}
	tf := map[string]float64{}
	var buf []string
	add := func(text string, w float64) {
		buf = b.tok.Tokens(buf[:0], text)
		for _, t := range buf {
			tf[t] += w
		}
	}
	add(d.Title, weightTitle)
	add(d.Description, weightDescription)
	add(d.Category, weightCategory)
	for _, tag := range d.Tags {
		add(tag, weightTag)
	}
	b.mu.Lock()
	b.cache[d.ID] = cachedTerms{fp: fp, terms: tf}
	b.mu.Unlock()
	return tf
}

// Fit builds the model of docs (later duplicates of an id win). Documents of ids no
// longer given are dropped from the builder's cache.
func (b *Builder) Fit(ctx context.Context, docs []Document) (*Model, error) {
	m := &Model{tok: b.tok, index: map[string]int32{}, terms: map[string]int32{}}
	var tfs []map[string]float64
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		tf := b.termsOf(d)
		if i, ok := m.index[d.ID]; ok {
			tfs[i] = tf
			continue
		}
		m.index[d.ID] = int32(len(m.ids))
		m.ids = append(m.ids, d.ID)
		tfs = append(tfs, tf)
	}
	b.mu.Lock()
	for id := range b.cache {
		if _, ok := m.index[id]; !ok {
			delete(b.cache, id)
		}
	}
	b.mu.Unlock()
	var df []int
	for _, tf := range tfs {
		for t := range tf {
			j, ok := m.terms[t]
			if !ok {
				j = int32(len(df))
				m.terms[t] = j
				df = append(df, 0)
			}
			df[j]++
		}
	}
	n := float64(len(m.ids))
	m.idf = make([]float64, len(df))
	for j, c := range df {
		m.idf[j] = math.Log((1+n)/(1+float64(c))) + 1
	}
	m.vecs = make([]Vector, len(tfs))
	m.post = make([][]posting, len(df))
	for i, tf := range tfs {
		v := make(Vector, 0, len(tf))
		for t, f := range tf {
			j := m.terms[t]
			v = append(v, Entry{Term: j, Weight: (1 + math.Log(f)) * m.idf[j]})
		}
		v = v.normalised()
		m.vecs[i] = v
		for _, e := range v {
			m.post[e.Term] = append(m.post[e.Term], posting{doc: int32(i), w: e.Weight})
		}
	}
	return m, nil
}

// Entry is one term's weight in a vector.
type Entry struct {
	Term   int32
	Weight float64
}

// Vector is a sparse TF-IDF vector, sorted by term.
type Vector []Entry

func (v Vector) normalised() Vector {
	slices.SortFunc(v, func(a, b Entry) int { return cmp.Compare(a.Term, b.Term) })
	var s float64
	for _, e := range v {
		s += e.Weight * e.Weight
	}
	if s == 0 {
		return v
	}
	s = math.Sqrt(s)
	for i := range v {
		v[i].Weight /= s
	}
	return v
}

// Dot is the dot product of two vectors (the cosine when both are normalised).
func Dot(a, b Vector) float64 {
	var s float64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i].Term < b[j].Term:
			i++
		case a[i].Term > b[j].Term:
			j++
		default:
			s += a[i].Weight * b[j].Weight
			i++
			j++
		}
	}
	return s
}

type posting struct {
	doc int32
	w   float64
}

// Model is a fitted TF-IDF index of items.
type Model struct {
	tok   *Tokenizer
	ids   []string
	index map[string]int32
	terms map[string]int32
	idf   []float64
	vecs  []Vector
	post  [][]posting
}

// Len returns the number of items.
func (m *Model) Len() int { return len(m.ids) }

// Has reports whether the model has the item.
func (m *Model) Has(id string) bool { _, ok := m.index[id]; return ok }

// Vector returns the item's vector (nil for an unknown item); the caller must not modify it.
func (m *Model) Vector(id string) Vector {
	if i, ok := m.index[id]; ok {
		return m.vecs[i]
	}
	return nil
}

// Query returns the normalised vector of a free text (an interest, a search), over the
// model's terms; terms the model does not know are ignored. It runs on the request path,
// so it never loads the Chinese dictionary: when the catalog needed it, it is loaded;
// when not, the catalog has no Chinese words for a query's to match.
func (m *Model) Query(text string) Vector {
	tf := map[int32]float64{}
	for _, t := range m.tok.tokens(nil, text, false) {
		if j, ok := m.terms[t]; ok {
			tf[j]++
		}
	}
	v := make(Vector, 0, len(tf))
	for j, f := range tf {
		v = append(v, Entry{Term: j, Weight: (1 + math.Log(f)) * m.idf[j]})
	}
	return v.normalised()
}

// Profile returns the normalised weighted sum of the vectors of items (unknown items are
// skipped): a user's taste from the items of their history.
func (m *Model) Profile(items []string, weights []float64) Vector {
	acc := map[int32]float64{}
	for k, id := range items {
		for _, e := range m.Vector(id) {
			acc[e.Term] += weights[k] * e.Weight
		}
	}
	v := make(Vector, 0, len(acc))
	for j, w := range acc {
		v = append(v, Entry{Term: j, Weight: w})
	}
	return v.normalised()
}

// Match is an item and its cosine similarity to a query.
type Match struct {
	ID    string
	Score float64
}

// Search returns up to n items by decreasing cosine similarity to q (ties by index), only
// those with a positive similarity and for which skip (may be nil) returns false.
func (m *Model) Search(q Vector, n int, skip func(id string) bool) []Match {
	if len(q) == 0 || n <= 0 {
		return nil
	}
	scores := make([]float64, len(m.ids))
	for _, e := range q {
		for _, p := range m.post[e.Term] {
			scores[p.doc] += e.Weight * p.w
		}
	}
	top := topk.Select(scores, n, func(i int32) bool {
		return scores[i] <= 0 || (skip != nil && skip(m.ids[i]))
	})
	out := make([]Match, len(top))
	for r, i := range top {
		out[r] = Match{ID: m.ids[i], Score: scores[i]}
	}
	return out
}

// Similar returns up to n items most similar to the item id, itself excluded (nil for an
// unknown item).
func (m *Model) Similar(id string, n int, skip func(id string) bool) []Match {
	v := m.Vector(id)
	if v == nil {
		return nil
	}
	return m.Search(v, n, func(o string) bool { return o == id || (skip != nil && skip(o)) })
}
