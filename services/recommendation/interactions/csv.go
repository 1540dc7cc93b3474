package interactions

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Rating is one explicit or implicit feedback record of a ratings file.
type Rating struct {
	User, Item string
	// Value is the rating (MovieLens: 0.5–5); files without one give 1.
	Value float64
	// Time is a Unix timestamp in seconds; 0 when the file has none.
	Time int64
}

// ErrBadCSV is returned for a ratings file that cannot be read.
var ErrBadCSV = errors.New("interactions: bad ratings CSV")

// ReadRatingsCSV reads a MovieLens-format CSV: an optional header naming userId, movieId
// (or itemId), and optionally rating and timestamp, then one record per line. Without a
// header naming the user and item columns the columns are taken in that order.
func ReadRatingsCSV(r io.Reader) ([]Rating, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cols := map[string]int{"user": 0, "item": 1, "rating": 2, "time": 3}
	var out []Rating
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCSV, err)
		}
		if line == 1 {
			if hc := headerColumns(rec); hc["user"] >= 0 && hc["item"] >= 0 {
				cols = hc
				continue
			}
		}
		rt, err := parseRating(rec, cols)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrBadCSV, line, err)
		}
		out = append(out, rt)
	}
}

func headerColumns(rec []string) map[string]int {
	cols := map[string]int{"user": -1, "item": -1, "rating": -1, "time": -1}
	for i, f := range rec {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "userid", "user_id", "user":
			cols["user"] = i
		case "movieid", "itemid", "item_id", "item", "movie_id":
			cols["item"] = i
		case "rating", "value", "weight":
			cols["rating"] = i
		case "timestamp", "time", "ts":
			cols["time"] = i
		}
	}
	return cols
}

func field(rec []string, i int) (string, bool) {
	if i < 0 || i >= len(rec) {
		return "", false
	}
	return strings.TrimSpace(rec[i]), true
}

func parseRating(rec []string, cols map[string]int) (Rating, error) {
	user, ok1 := field(rec, cols["user"])
	item, ok2 := field(rec, cols["item"])
	if !ok1 || !ok2 || user == "" || item == "" {
		return Rating{}, errors.New("missing user or item")
	}
	rt := Rating{User: user, Item: item, Value: 1}
	if s, ok := field(rec, cols["rating"]); ok && s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return Rating{}, fmt.Errorf("rating %q: %w", s, err)
		}
		rt.Value = v
	}
	if s, ok := field(rec, cols["time"]); ok && s != "" {
		ts, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Rating{}, fmt.Errorf("timestamp %q: %w", s, err)
		}
		rt.Time = ts
	}
	return rt, nil
}

// ReadUsers reads one user id per line, skipping blank lines and a "userId" header.
func ReadUsers(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("interactions: read users: %w", err)
	}
	var users []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || (i == 0 && headerColumns([]string{line})["user"] == 0) {
			continue
		}
		users = append(users, line)
	}
	return users, nil
}

// BinaryMatrix builds the user × item matrix of ratings in which every rating counts as a
// positive (weight 1), the protocol of the offline evaluation.
func BinaryMatrix(ratings []Rating) *Matrix {
	b := NewBuilder()
	b.Combine = func(_, _ float64) float64 { return 1 }
	for _, r := range ratings {
		b.Add(r.User, r.Item, 1)
	}
	return b.Build()
}
