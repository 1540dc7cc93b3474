// Package dataset finds the public research data sets the offline evaluations read
// (shared/datasets/… next to the repository in the project's workspace). They are not
// part of the product: callers skip or fail clearly when Find reports them absent.
package dataset

import (
	"os"
	"path/filepath"
)

// Find walks up from the working directory looking for shared/datasets/<elem…> and
// returns its path, or false when no parent holds it (a clone outside the project's
// workspace).
func Find(elem ...string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	rel := filepath.Join(append([]string{"shared", "datasets"}, elem...)...)
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
