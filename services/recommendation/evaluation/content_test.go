package evaluation

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/stratahq/strata/services/recommendation/content"
)

func TestReadMovieLensItems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("movies.csv", "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,\"Heat, Again (1995)\",(no genres listed)\n")
	docs, err := ReadMovieLensItems(dir)
	if err != nil {
		t.Fatalf("without tags.csv: %v", err)
	}
	want := []content.Document{{ID: "1", Title: "Toy Story (1995)", Tags: []string{"Adventure", "Animation"}}, {ID: "2", Title: "Heat, Again (1995)"}}
	if !reflect.DeepEqual(docs, want) {
		t.Errorf("without tags.csv: got %+v, want %+v", docs, want)
	}
	write("tags.csv", "userId,movieId,tag,timestamp\n7,2,heist,1\n7,9,orphan,2\n")
	docs, err = ReadMovieLensItems(dir)
	if err != nil || !reflect.DeepEqual(docs[1].Tags, []string{"heist"}) {
		t.Errorf("with tags.csv: got %+v, %v; want movie 2 tagged heist", docs, err)
	}
	if _, err := ReadMovieLensItems(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no movies.csv: got %v, want ErrNotExist", err)
	}
}

func TestRunContent(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.K, cfg.Models = 3, []string{ModelPopularity, ModelContent}
	// Items of the first group are about go, of the second about art; "top" about both.
	for i := range 20 {
		topic := "go concurrency channels"
		if i >= 10 {
			topic = "watercolour painting brushes"
		}
		cfg.Items = append(cfg.Items, content.Document{ID: "i" + strconv.Itoa(i), Title: topic})
	}
	cfg.Items = append(cfg.Items, content.Document{ID: "top", Title: "go painting"})
	rep, err := Run(t.Context(), groups(40), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if pop, got := rep.Results[0].NDCG, rep.Results[1].NDCG; got <= pop {
		t.Errorf("content nDCG@3 %v, want above popularity's %v on topical groups", got, pop)
	}
	cfg.Items = nil
	if _, err := Run(t.Context(), groups(4), cfg); !errors.Is(err, ErrNoItemTexts) {
		t.Errorf("content without texts: got %v, want ErrNoItemTexts", err)
	}
}
