// Package movielens reads the MovieLens ml-latest-small ratings (GroupLens' research
// data set) as Strata events, for the offline evaluation of category demand: every
// rating becomes an Order Completed of the movie with its genres as categories, so the
// genres a user rates next stand in for the categories a user buys next.
//
// The data set is not part of the product; tests find it with [FindDataset].
package movielens

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/dataset"
)

// ErrFormat is returned for a file that is not in the MovieLens CSV layout.
var ErrFormat = errors.New("movielens: unrecognised file")

// ReadDir reads movies.csv and ratings.csv of dir and returns one event per rating, in
// file order. Movies listed with "(no genres listed)" get no category.
func ReadDir(dir string) ([]*eventv1.Event, error) {
	genres := map[string][]string{}
	if err := readCSV(filepath.Join(dir, "movies.csv"), 3, func(f []string) error {
		if f[2] != "(no genres listed)" {
			genres[f[0]] = strings.Split(f[2], "|")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []*eventv1.Event
	err := readCSV(filepath.Join(dir, "ratings.csv"), 4, func(f []string) error {
		sec, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: timestamp %q", ErrFormat, f[3])
		}
		id := fmt.Sprintf("ml-%s-%s", f[0], f[1])
		items := make([]*eventv1.OrderItem, 0, 1)
		for _, g := range genres[f[1]] {
			items = append(items, &eventv1.OrderItem{ItemId: f[1], Quantity: 1, Category: g})
		}
		if len(items) == 0 {
			items = append(items, &eventv1.OrderItem{ItemId: f[1], Quantity: 1})
		}
		out = append(out, &eventv1.Event{
			EventId: id, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Order Completed", UserId: "ml-" + f[0],
			Timestamp: timestamppb.New(time.Unix(sec, 0).UTC()),
			Order:     &eventv1.Order{OrderId: id, Items: items},
		})
		return nil
	})
	return out, err
}

func readCSV(path string, fields int, row func([]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("movielens: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = fields
	if _, err := r.Read(); err != nil {
		return fmt.Errorf("movielens: %s header: %w", path, err)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("movielens: %s: %w", path, err)
		}
		if err := row(rec); err != nil {
			return fmt.Errorf("movielens: %s: %w", path, err)
		}
	}
}

// FindDataset returns the path of shared/datasets/ml-latest-small above the working
// directory, or false when it is absent (a clone outside the project's workspace).
func FindDataset() (string, bool) {
	p, ok := dataset.Find("ml-latest-small", "ratings.csv")
	if !ok {
		return "", false
	}
	return filepath.Dir(p), true
}
