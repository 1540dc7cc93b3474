package replay_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/services/strata/replay"
	"github.com/stratahq/strata/services/strata/sink"
	"github.com/stratahq/strata/services/strata/world"
)

// collect runs src into a slice.
func collect(t *testing.T, src replay.Source) []sink.Message {
	t.Helper()
	var out []sink.Message
	if err := src.Each(context.Background(), func(m sink.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSource checks what every source promises: unique message ids, the event name,
// time order, and the counts.
func checkSource(t *testing.T, msgs []sink.Message, event string, wantEvents, wantUsers int) {
	t.Helper()
	ids, users := map[string]bool{}, map[string]bool{}
	for i, m := range msgs {
		if ids[m.MessageID] {
			t.Errorf("duplicate messageId %s", m.MessageID)
		}
		ids[m.MessageID] = true
		users[m.UserID] = true
		if m.Type != "track" || m.Event != event {
			t.Errorf("message %s: %s %q, want track %q", m.MessageID, m.Type, m.Event, event)
		}
		if i > 0 && m.Timestamp.Before(msgs[i-1].Timestamp) {
			t.Errorf("message %s at %v comes after one at %v", m.MessageID, m.Timestamp, msgs[i-1].Timestamp)
		}
	}
	if len(msgs) != wantEvents || len(users) != wantUsers {
		t.Errorf("got %d events of %d users, want %d of %d", len(msgs), len(users), wantEvents, wantUsers)
	}
}

func TestMovieLens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		opt               replay.Options
		events, users     int
		firstUser, firstM string
	}{
		{"all", replay.Options{}, 12, 3, "ml-1", "ml-1-3"},
		{"limit", replay.Options{Limit: 5}, 5, 2, "ml-1", "ml-1-3"},
		{"prefix", replay.Options{Prefix: "run1-"}, 12, 3, "run1-ml-1", "run1-ml-1-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := replay.OpenMovieLens("testdata", tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			msgs := collect(t, src)
			checkSource(t, msgs, "Item Rated", tt.events, tt.users)
			if src.Len() != tt.events || src.Users() != tt.users {
				t.Errorf("Len %d, Users %d: want %d, %d", src.Len(), src.Users(), tt.events, tt.users)
			}
			if want := map[int]int{12: 5, 5: 4}[tt.events]; len(src.Items()) != want {
				t.Errorf("items: got %d, want %d (with a limit, the movies rated)", len(src.Items()), want)
			}
			first := msgs[0]
			if first.UserID != tt.firstUser || first.MessageID != tt.firstM {
				t.Errorf("first message: user %s id %s, want %s %s", first.UserID, first.MessageID, tt.firstUser, tt.firstM)
			}
		})
	}

	src, err := replay.OpenMovieLens(filepath.Join("testdata", "ratings.csv"), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := collect(t, src)
	// User 1 rated movie 6 with half a star at 964982224.
	var half *sink.Message
	for i := range msgs {
		if msgs[i].MessageID == "ml-1-6" {
			half = &msgs[i]
		}
	}
	if half == nil || half.Properties["rating"] != 0.5 || half.Properties["item_id"] != "ml-movie-6" ||
		!half.Timestamp.Equal(time.Unix(964982224, 0)) {
		t.Errorf("rating ml-1-6: got %+v, want 0.5 stars for ml-movie-6 at 964982224", half)
	}
	items := src.Items()
	if len(items) != 5 {
		t.Fatalf("items: got %d, want 5", len(items))
	}
	if it := items[1]; it.ItemID != "ml-movie-3" || it.Title != "American President, The (1995)" || it.Category != "comedy" ||
		strings.Join(it.Tags, ",") != "comedy,drama,romance" || it.Type != "ITEM_TYPE_COURSE" {
		t.Errorf("item with a quoted title: got %+v", it)
	}
	if it := items[4]; it.Category != "" || len(it.Tags) != 0 {
		t.Errorf("item without genres: got category %q tags %v, want none", it.Category, it.Tags)
	}
}

func TestCDNOW(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file          string
		events, users int
	}{
		{"cdnow_master.txt", 10, 5},
		{"cdnow_sample.txt", 6, 3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			src, err := replay.OpenCDNOW(filepath.Join("testdata", tt.file), replay.Options{Prefix: "p-"})
			if err != nil {
				t.Fatal(err)
			}
			msgs := collect(t, src)
			checkSource(t, msgs, "Order Completed", tt.events, tt.users)
			// Customer 4's first purchase: 1997-01-01, 2 CDs, $29.33, in both layouts.
			var got *sink.Message
			for i := range msgs {
				if msgs[i].UserID == "p-cdnow-4" {
					got = &msgs[i]
					break
				}
			}
			if got == nil {
				t.Fatal("no purchase of customer 4 (p-cdnow-4)")
			}
			p := got.Properties
			if !got.Timestamp.Equal(time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC)) || p["revenue_minor"] != int64(2933) ||
				p["revenue"] != 29.33 || p["currency"] != "USD" || p["quantity"] != int32(2) || p["order_id"] != got.MessageID {
				t.Errorf("customer 4's first order: got %v %v", got.Timestamp, p)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input, wantLine string
		read                  func(string) error
	}{
		{"ratings with three fields", "userId,movieId,rating,timestamp\n1,2,3\n", "line 2", readML},
		{"rating out of range", "1,2,7,100\n", "line 1", readML},
		{"cdnow bad date", " 00001 19971301  1   11.77\n", "line 1", readCD},
		{"cdnow three fields", " 00001 19970101  1\n", "line 1", readCD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.read(tt.input)
			if !errors.Is(err, replay.ErrFormat) || !strings.Contains(err.Error(), tt.wantLine) {
				t.Errorf("got %v, want ErrFormat naming %s", err, tt.wantLine)
			}
		})
	}
}

func readML(s string) error {
	_, err := replay.ReadMovieLens(strings.NewReader(s), nil, replay.Options{})
	return err
}

func readCD(s string) error {
	_, err := replay.ReadCDNOW(strings.NewReader(s), replay.Options{})
	return err
}

// TestJSONLRoundTrip checks that a seed file replays as it was written: reading it back
// and writing it again gives the same bytes.
func TestJSONLRoundTrip(t *testing.T) {
	t.Parallel()
	w, err := world.New(world.Config{Seed: 9, Users: 40, Items: 30, Days: 30, End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var events, items bytes.Buffer
	f := sink.NewFile(&events, &items)
	if err := f.SendItems(ctx, w.Items()); err != nil {
		t.Fatal(err)
	}
	if err := w.Generate(ctx, func(m sink.Message) error { return f.Send(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	readItems, err := replay.ReadItems(bytes.NewReader(items.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	src := replay.NewJSONL(bytes.NewReader(events.Bytes()), readItems, replay.Options{})
	var events2, items2 bytes.Buffer
	f2 := sink.NewFile(&events2, &items2)
	res, err := replay.Run(ctx, src, f2)
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(events.Bytes(), events2.Bytes()) || !bytes.Equal(items.Bytes(), items2.Bytes()) {
		t.Errorf("replayed %d messages and %d items differ from the file", res.Messages, res.Items)
	}
	if res.Messages == 0 || res.Items != 30 {
		t.Errorf("replayed %d messages, %d items; want some messages and 30 items", res.Messages, res.Items)
	}
}

// datasets returns the shared datasets folder, ../shared/datasets from the repository
// root, found by walking up from the test's directory; the test is skipped without it.
func datasets(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "datasets")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/datasets not found above the working directory: the public datasets are not in this checkout")
		}
		dir = parent
	}
}

func dataset(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{datasets(t)}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is not available: %v", p, err)
	}
	return p
}

// TestDatasets reads the public datasets whole and checks them against the counts
// their READMEs publish.
func TestDatasets(t *testing.T) {
	t.Parallel()
	t.Run("ml-latest-small", func(t *testing.T) {
		t.Parallel()
		src, err := replay.OpenMovieLens(dataset(t, "ml-latest-small"), replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if src.Len() != 100_836 || src.Users() != 610 || len(src.Items()) != 9_742 {
			t.Errorf("got %d ratings of %d users, %d movies; want 100,836 of 610, 9,742", src.Len(), src.Users(), len(src.Items()))
		}
		checkSource(t, collect(t, src), "Item Rated", 100_836, 610)
	})
	for _, tt := range []struct {
		file        string
		rows, users int
	}{
		{"CDNOW_sample.txt", 6_919, 2_357},
		{"CDNOW_master.txt", 69_659, 23_570},
	} {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			src, err := replay.OpenCDNOW(dataset(t, "cdnow", tt.file), replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkSource(t, collect(t, src), "Order Completed", tt.rows, tt.users)
		})
	}
}
