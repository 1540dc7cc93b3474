package dataset_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stratahq/strata/services/prediction/dataset"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	want := filepath.Join(root, "shared", "datasets", "demo", "file.txt")
	deep := filepath.Join(root, "a", "b")
	for _, d := range []string{filepath.Dir(want), deep} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(want, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	if got, ok := dataset.Find("demo", "file.txt"); !ok || got != want {
		t.Errorf("Find: got %q, %v; want %q, true", got, ok, want)
	}
	if got, ok := dataset.Find("demo", "absent.txt"); ok {
		t.Errorf("Find of an absent file: got %q, true; want false", got)
	}
}
