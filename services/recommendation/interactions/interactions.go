// Package interactions holds user–item feedback as a sparse matrix: the input every
// recommender of the service trains on, offline (MovieLens-format CSV files) and online
// (events consumed from Kafka).
//
// A [Dict] maps external ids (strings) to dense indices in insertion order; a [Matrix] is
// an immutable user × item matrix in compressed sparse row form, with the item columns of
// each row sorted. Matrices and Dicts are safe for concurrent reads once built; a
// [Builder] is not safe for concurrent use.
package interactions

import (
	"slices"
	"sort"
)

// Dict maps external ids to dense indices 0..Len()-1, in the order they were added.
type Dict struct {
	ids   []string
	index map[string]int32
}

// NewDict returns an empty dictionary.
func NewDict() *Dict { return &Dict{index: map[string]int32{}} }

// DictOf returns a dictionary of ids, in order; duplicates keep their first index.
func DictOf(ids ...string) *Dict {
	d := NewDict()
	for _, id := range ids {
		d.Add(id)
	}
	return d
}

// Add returns the index of id, adding it if it is new.
func (d *Dict) Add(id string) int32 {
	if i, ok := d.index[id]; ok {
		return i
	}
	i := int32(len(d.ids))
	d.ids = append(d.ids, id)
	d.index[id] = i
	return i
}

// Index returns the index of id and whether it is known.
func (d *Dict) Index(id string) (int32, bool) {
	i, ok := d.index[id]
	return i, ok
}

// ID returns the id at index i.
func (d *Dict) ID(i int32) string { return d.ids[i] }

// IDs returns the ids in index order; the caller must not modify the slice.
func (d *Dict) IDs() []string { return d.ids }

// Clone returns an independent copy of d.
func (d *Dict) Clone() *Dict { return d.clone() }

func (d *Dict) clone() *Dict {
	c := &Dict{ids: slices.Clone(d.ids), index: make(map[string]int32, len(d.ids))}
	for i, id := range c.ids {
		c.index[id] = int32(i)
	}
	return c
}

// Len is the number of ids.
func (d *Dict) Len() int { return len(d.ids) }

// Matrix is a sparse user × item matrix of non-negative weights in CSR form.
type Matrix struct {
	users, items *Dict
	indptr       []int
	cols         []int32
	vals         []float64
}

// Users returns the row dictionary.
func (m *Matrix) Users() *Dict { return m.users }

// Items returns the column dictionary.
func (m *Matrix) Items() *Dict { return m.items }

// NumUsers is the number of rows.
func (m *Matrix) NumUsers() int { return m.users.Len() }

// NumItems is the number of columns.
func (m *Matrix) NumItems() int { return m.items.Len() }

// NNZ is the number of stored (user, item) pairs.
func (m *Matrix) NNZ() int { return len(m.cols) }

// Row returns the items of user u in increasing index order and their weights; the caller
// must not modify the slices.
func (m *Matrix) Row(u int) (items []int32, weights []float64) {
	lo, hi := m.indptr[u], m.indptr[u+1]
	return m.cols[lo:hi], m.vals[lo:hi]
}

// ItemUsers returns, for every item, the users who interacted with it (increasing) and
// the weights: the matrix transposed, in the same CSR form.
func (m *Matrix) ItemUsers() (indptr []int, users []int32, weights []float64) {
	nItems := m.NumItems()
	indptr = make([]int, nItems+1)
	for _, c := range m.cols {
		indptr[c+1]++
	}
	for i := 0; i < nItems; i++ {
		indptr[i+1] += indptr[i]
	}
	next := slices.Clone(indptr[:nItems])
	users = make([]int32, len(m.cols))
	weights = make([]float64, len(m.cols))
	for u := 0; u < m.NumUsers(); u++ {
		items, vals := m.Row(u)
		for k, c := range items {
			users[next[c]] = int32(u)
			weights[next[c]] = vals[k]
			next[c]++
		}
	}
	return indptr, users, weights
}

// ItemCounts returns, for every item, the number of users who interacted with it.
func (m *Matrix) ItemCounts() []float64 {
	counts := make([]float64, m.NumItems())
	for _, c := range m.cols {
		counts[c]++
	}
	return counts
}

// Binary returns a copy of m whose every stored weight is 1.
func (m *Matrix) Binary() *Matrix {
	ones := make([]float64, len(m.vals))
	for i := range ones {
		ones[i] = 1
	}
	return &Matrix{users: m.users, items: m.items, indptr: m.indptr, cols: m.cols, vals: ones}
}

// Builder accumulates (user, item, weight) triples into a Matrix. Repeated pairs are
// combined by the builder's Combine function (sum by default).
type Builder struct {
	users, items *Dict
	entries      map[int64]float64
	// Combine merges the weight already held for a pair with a new one; nil sums them.
	Combine func(old, new float64) float64
}

// NewBuilder returns a builder with empty dictionaries.
func NewBuilder() *Builder {
	return NewBuilderWith(NewDict(), NewDict())
}

// NewBuilderWith returns a builder that adds to the given dictionaries, so a matrix can
// keep an index order decided beforehand.
func NewBuilderWith(users, items *Dict) *Builder {
	return &Builder{users: users, items: items, entries: map[int64]float64{}}
}

// Add records weight w for (user, item).
func (b *Builder) Add(user, item string, w float64) {
	u, i := b.users.Add(user), b.items.Add(item)
	key := int64(u)<<32 | int64(uint32(i))
	if old, ok := b.entries[key]; ok {
		if b.Combine != nil {
			w = b.Combine(old, w)
		} else {
			w += old
		}
	}
	b.entries[key] = w
}

// Build returns the matrix, with copies of the dictionaries as they are now. Pairs whose
// combined weight is not positive are dropped. The builder can keep adding afterwards; the
// matrix does not change.
func (b *Builder) Build() *Matrix {
	nUsers := b.users.Len()
	keys := make([]int64, 0, len(b.entries))
	for k, w := range b.entries {
		if w > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	m := &Matrix{
		users:  b.users.clone(),
		items:  b.items.clone(),
		indptr: make([]int, nUsers+1),
		cols:   make([]int32, len(keys)),
		vals:   make([]float64, len(keys)),
	}
	for k, key := range keys {
		u := int(key >> 32)
		m.indptr[u+1]++
		m.cols[k] = int32(uint32(key))
		m.vals[k] = b.entries[key]
	}
	for u := 0; u < nUsers; u++ {
		m.indptr[u+1] += m.indptr[u]
	}
	return m
}
