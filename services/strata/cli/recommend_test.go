package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/recommendation/evaluation"
)

func strataCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := New(&out)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// ratingsFile writes a MovieLens-format file: 60 users in two taste groups, each rating
// most of their group's ten movies.
func ratingsFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("userId,movieId,rating,timestamp\n")
	for u := 1; u <= 60; u++ {
		for m := 1; m <= 10; m++ {
			if (u+m)%4 == 0 {
				continue
			}
			movie := m
			if u%2 == 0 {
				movie += 100
			}
			fmt.Fprintf(&b, "%d,%d,%d.0,%d\n", u, movie, 1+(u+m)%5, 1000000+u*100+m)
		}
	}
	path := filepath.Join(t.TempDir(), "ratings.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalRecommend(t *testing.T) {
	t.Parallel()
	file := ratingsFile(t)
	args := []string{"eval", "recommend", "--ratings", file, "--k", "5", "--ease-lambda", "5",
		"--hybrid-lambdas", "1,5", "--hybrid-user-lambdas", "1,10", "--hybrid-validation-ratio", "0.25", "--quiet"}
	out, err := strataCLI(t, args...)
	if err != nil {
		t.Fatalf("eval recommend: %v\n%s", err, out)
	}
	for _, want := range []string{"nDCG@5", "pop ", "itemknn ", "ease ", "hybrid ", "lambda=5"} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not contain %q:\n%s", want, out)
		}
	}
	out, err = strataCLI(t, append(args, "--json", "--models", "pop,ease", "--protocol", "temporal")...)
	if err != nil {
		t.Fatalf("eval recommend --json: %v\n%s", err, out)
	}
	var rep evaluation.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(rep.Results) != 2 || rep.Protocol != "temporal" || rep.Results[1].NDCG <= rep.Results[0].NDCG {
		t.Errorf("report: got %+v, want pop then a better ease under the temporal protocol", rep)
	}
	if _, err := strataCLI(t, "eval", "recommend", "--ratings", file, "--models", "nope"); err == nil {
		t.Errorf("unknown model: got nil error")
	}
}

func TestRecommendOffline(t *testing.T) {
	t.Parallel()
	file := ratingsFile(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(users, []byte("1\n2\nnobody\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recs := filepath.Join(dir, "recs.jsonl")
	if out, err := strataCLI(t, "recommend", "offline", "--train", file, "--users", users, "--k", "3", "--model", "itemknn", "--out", recs, "--quiet"); err != nil {
		t.Fatalf("recommend offline: %v\n%s", err, out)
	}
	f, err := os.Open(recs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []struct {
		User  string   `json:"user"`
		Items []string `json:"items"`
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			User  string   `json:"user"`
			Items []string `json:"items"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 3 || lines[0].User != "1" || lines[2].User != "nobody" {
		t.Fatalf("lines: got %+v, want users 1, 2, nobody", lines)
	}
	// User 1 (odd: movies 1–10) rated all but 3 and 7: those come first.
	for _, it := range lines[0].Items[:2] {
		if it != "3" && it != "7" {
			t.Errorf("user 1: got %v, want 3 and 7 first", lines[0].Items)
		}
	}
	for _, l := range lines {
		if len(l.Items) != 3 {
			t.Errorf("user %s: got %d items, want 3", l.User, len(l.Items))
		}
	}
}
