package replay

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratahq/strata/services/strata/sink"
)

// MovieLens is a MovieLens ratings file (userId,movieId,rating,timestamp) as `Item Rated`
// events of users "ml-<userId>" about items "ml-movie-<movieId>", with the rating (0.5
// to 5 in half stars) as the rating property; movies.csv, when given, is the catalog.
// A film is carried as ITEM_TYPE_COURSE, the closest of the catalog's types to a video a
// person watches; its first genre is its category and its genres are its tags. With
// Options.Limit, the catalog holds only the movies the rows read rate.
type MovieLens struct {
	opt     Options
	ratings []rating
	items   []sink.Item
	users   int
}

type rating struct {
	ts          int64
	user, movie int32
	// halves is the rating in half stars (1 to 10).
	halves uint8
}

// OpenMovieLens reads path: a ratings.csv, or a directory holding ratings.csv and
// perhaps movies.csv (next to a ratings file, movies.csv is read too when present).
func OpenMovieLens(path string, opt Options) (*MovieLens, error) {
	ratingsPath, dir := path, filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		ratingsPath, dir = filepath.Join(path, "ratings.csv"), path
	}
	rf, err := open(ratingsPath)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	var movies io.Reader
	if mf, err := open(filepath.Join(dir, "movies.csv")); err == nil {
		defer mf.Close()
		movies = mf
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return ReadMovieLens(rf, movies, opt)
}

// ReadMovieLens reads ratings and, when movies is not nil, the catalog.
func ReadMovieLens(ratings, movies io.Reader, opt Options) (*MovieLens, error) {
	ml := &MovieLens{opt: opt}
	users := map[int32]struct{}{}
	err := lines(ratings, func(n int, line string) error {
		if line == "" || (n == 1 && strings.HasPrefix(line, "userId")) {
			return nil
		}
		if opt.Limit > 0 && len(ml.ratings) >= opt.Limit {
			return errStop
		}
		f := strings.Split(line, ",")
		if len(f) != 4 {
			return fmt.Errorf("%w: ratings line %d: want 4 fields, got %d", ErrFormat, n, len(f))
		}
		u, err1 := strconv.ParseInt(f[0], 10, 32)
		m, err2 := strconv.ParseInt(f[1], 10, 32)
		r, err3 := strconv.ParseFloat(f[2], 64)
		ts, err4 := strconv.ParseInt(f[3], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return fmt.Errorf("%w: ratings line %d: %w", ErrFormat, n, err)
		}
		if r < 0.5 || r > 5 {
			return fmt.Errorf("%w: ratings line %d: rating %v is not within 0.5 to 5", ErrFormat, n, r)
		}
		ml.ratings = append(ml.ratings, rating{ts: ts, user: int32(u), movie: int32(m), halves: uint8(r*2 + 0.5)})
		users[int32(u)] = struct{}{}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	ml.users = len(users)
	slices.SortStableFunc(ml.ratings, func(a, b rating) int { return int(min(max(a.ts-b.ts, -1), 1)) })
	if movies != nil {
		if ml.items, err = readMovies(movies); err != nil {
			return nil, err
		}
	}
	if opt.Limit > 0 {
		// A sample of the ratings comes with the part of the catalog it rates.
		rated := map[string]bool{}
		for _, r := range ml.ratings {
			rated[MovieItemID(int(r.movie))] = true
		}
		ml.items = slices.DeleteFunc(ml.items, func(it sink.Item) bool { return !rated[it.ItemID] })
	}
	return ml, nil
}

func readMovies(r io.Reader) ([]sink.Item, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	var items []sink.Item
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: movies: %w", ErrFormat, err)
		}
		if n == 1 && rec[0] == "movieId" {
			continue
		}
		id, err := strconv.Atoi(rec[0])
		if err != nil {
			return nil, fmt.Errorf("%w: movies line %d: %w", ErrFormat, n, err)
		}
		it := sink.Item{
			ItemID:   MovieItemID(id),
			Type:     "ITEM_TYPE_COURSE",
			Title:    rec[1],
			Language: "en",
		}
		if it.Title == "" {
			it.Title = it.ItemID
		}
		if rec[2] != "(no genres listed)" {
			for _, g := range strings.Split(rec[2], "|") {
				it.Tags = append(it.Tags, strings.ReplaceAll(strings.ToLower(g), " ", "-"))
			}
			it.Category = it.Tags[0]
		}
		items = append(items, it)
	}
}

// MovieItemID is the item id of a MovieLens movie.
func MovieItemID(movieID int) string { return "ml-movie-" + strconv.Itoa(movieID) }

// Items implements Source.
func (ml *MovieLens) Items() []sink.Item { return ml.items }

// Len implements Source.
func (ml *MovieLens) Len() int { return len(ml.ratings) }

// Users is the number of distinct users.
func (ml *MovieLens) Users() int { return ml.users }

// Each implements Source, in time order.
func (ml *MovieLens) Each(ctx context.Context, fn func(sink.Message) error) error {
	for i, r := range ml.ratings {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		user := ml.opt.Prefix + "ml-" + strconv.Itoa(int(r.user))
		err := fn(sink.Message{
			Type:      "track",
			Event:     "Item Rated",
			MessageID: user + "-" + strconv.Itoa(int(r.movie)),
			UserID:    user,
			Timestamp: time.Unix(r.ts, 0).UTC(),
			Properties: map[string]any{
				"item_id": MovieItemID(int(r.movie)),
				"rating":  float64(r.halves) / 2,
			},
		})
		if err != nil {
			return err
		}
	}
	return nil
}
