package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/load"
	"github.com/stratahq/strata/services/strata/suitetest"
	"github.com/stratahq/strata/services/strata/world"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := New(&out)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestSeedFilesAreReproducible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := func(name string) []string {
		return []string{"seed", "--users", "50", "--items", "24", "--days", "30", "--end", "2026-06-01",
			"--seed", "5", "--out", filepath.Join(dir, name), "--no-progress"}
	}
	for _, name := range []string{"a.jsonl", "b.jsonl"} {
		out, err := run(t, args(name)...)
		if err != nil {
			t.Fatalf("seed: %v\n%s", err, out)
		}
		if !strings.Contains(out, "seeded world 5: 50 users, 24 items") {
			t.Errorf("summary %q does not describe the world", out)
		}
	}
	for _, pair := range [][2]string{{"a.jsonl", "b.jsonl"}, {"a.items.jsonl", "b.items.jsonl"}} {
		a, errA := os.ReadFile(filepath.Join(dir, pair[0]))
		b, errB := os.ReadFile(filepath.Join(dir, pair[1]))
		if err := errors.Join(errA, errB); err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s and %s: %d and %d bytes, want the same non-empty content", pair[0], pair[1], len(a), len(b))
		}
	}
	if items, _ := os.ReadFile(filepath.Join(dir, "a.items.jsonl")); bytes.Count(items, []byte("\n")) != 24 {
		t.Errorf("items file has %d lines, want 24", bytes.Count(items, []byte("\n")))
	}
}

func TestReplayToFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, "replay", "movielens", filepath.Join("..", "replay", "testdata"), "--out", filepath.Join(dir, "ml.jsonl"), "--no-progress")
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if !strings.Contains(out, "replayed movielens: 12 events of 3 users, 5 catalog items") {
		t.Errorf("summary %q", out)
	}
	events, _ := os.ReadFile(filepath.Join(dir, "ml.jsonl"))
	if got := bytes.Count(events, []byte(`"event":"Item Rated"`)); got != 12 {
		t.Errorf("file holds %d Item Rated events, want 12", got)
	}
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"load refuses a remote host", []string{"load", "--http", "http://192.0.2.1:8080", "--count", "1"}, load.ErrNotLoopback},
		{"seed needs an output", []string{"seed", "--users", "1"}, errNoOutput},
		{"seed needs a size", []string{"seed", "--users", "0", "--out", "-"}, world.ErrInvalidSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := run(t, tt.args...); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSeedOnce seeds a small world into a running suite as `strata up` does, then
// finds it there and does not seed it again.
func TestSeedOnce(t *testing.T) {
	t.Parallel()
	s := suitetest.Start(t, strata.Config{})
	cfg := world.Config{Seed: 3, Users: 30, Items: 24, Days: 30, End: time.Now().UTC().Truncate(24 * time.Hour)}
	ctx := context.Background()
	var out bytes.Buffer
	res, err := seedSuite(ctx, &out, cfg, "http://"+s.HTTP, s.GRPC, s.WriteKey, s.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	if res.skipped || res.Events == 0 || res.Items != 24 || res.probe == "" {
		t.Fatalf("first seeding: %+v, want the world sent", res)
	}
	suitetest.Eventually(t, 30*time.Second, "the probe user's profile", func() bool {
		found, err := hasProfile(ctx, s.GRPC, s.AdminKey, res.probe)
		return err == nil && found
	})
	again, err := seedSuite(ctx, &out, cfg, "http://"+s.HTTP, s.GRPC, s.WriteKey, s.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	if !again.skipped || again.Events != 0 {
		t.Errorf("second seeding: %+v, want it skipped", again)
	}
}
