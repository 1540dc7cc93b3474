package evaluation

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stratahq/strata/services/recommendation/content"
	"github.com/stratahq/strata/services/recommendation/interactions"
)

// ErrNoItemTexts is returned for the "content" model without Config.Items.
var ErrNoItemTexts = errors.New("evaluation: the content model needs the items' texts (movies.csv, tags.csv)")

// ReadMovieLensItems reads the texts of the items of a MovieLens directory: movies.csv
// (movieId, title, genres) for the title and the genres (as tags), and, when present,
// tags.csv (userId, movieId, tag, timestamp) for the users' tags of each movie. The tags
// of every user count, those of test users included: they describe the item, not a
// rating.
func ReadMovieLensItems(dir string) ([]content.Document, error) {
	docs := map[string]*content.Document{}
	var order []string
	err := readCSV(filepath.Join(dir, "movies.csv"), 3, func(rec []string) {
		d := &content.Document{ID: rec[0], Title: rec[1]}
		for _, g := range strings.Split(rec[2], "|") {
			if g != "" && g != "(no genres listed)" {
				d.Tags = append(d.Tags, g)
			}
		}
		if _, ok := docs[d.ID]; !ok {
			order = append(order, d.ID)
		}
		docs[d.ID] = d
	})
	if err != nil {
		return nil, err
	}
	err = readCSV(filepath.Join(dir, "tags.csv"), 3, func(rec []string) {
		if d := docs[rec[1]]; d != nil {
			d.Tags = append(d.Tags, rec[2])
		}
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := make([]content.Document, len(order))
	for i, id := range order {
		out[i] = *docs[id]
	}
	return out, nil
}

// readCSV calls each for every record after the header, records having at least cols
// fields.
func readCSV(path string, cols int, each func(rec []string)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("evaluation: %s: %w", path, err)
		}
		if line > 1 && len(rec) >= cols {
			each(rec)
		}
	}
}

// contentScorer scores items by the cosine between their TF-IDF vector and the user's
// profile (the weighted sum of the vectors of their history).
type contentScorer struct {
	m    *content.Model
	ids  []string         // item index → id
	vecs []content.Vector // item index → vector (nil: no text)
}

func fitContent(ctx context.Context, x *interactions.Matrix, docs []content.Document) (*contentScorer, error) {
	if len(docs) == 0 {
		return nil, ErrNoItemTexts
	}
	m, err := content.NewBuilder(content.NewTokenizer()).Fit(ctx, docs)
	if err != nil {
		return nil, err
	}
	s := &contentScorer{m: m, ids: x.Items().IDs(), vecs: make([]content.Vector, x.NumItems())}
	for j, id := range s.ids {
		s.vecs[j] = m.Vector(id)
	}
	return s, nil
}

// Score implements hybrid.Scorer.
func (s *contentScorer) Score(_ int, items []int32, weights []float64, dst []float64) {
	ids := make([]string, len(items))
	for k, i := range items {
		ids[k] = s.ids[i]
	}
	p := s.m.Profile(ids, weights)
	for j, v := range s.vecs {
		dst[j] = content.Dot(p, v)
	}
}
