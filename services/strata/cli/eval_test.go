package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/prediction/evaluate"
)

// cdnowFile writes a small CDNOW-like file in the sample layout: 200 customers whose
// gaps between purchases differ, over 1997 and the first half of 1998.
func cdnowFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for c := range 200 {
		gap := 7 + (c%9)*20
		stop := 60 + (c*53)%500
		for d := c % 80; d < stop; d += gap {
			y, m := 1997, 1
			dd := d
			days := []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
			for dd >= days[m-1] {
				dd -= days[m-1]
				if m++; m > 12 {
					m, y = 1, y+1
				}
			}
			day := y*10000 + m*100 + dd + 1
			fmt.Fprintf(&b, " %05d %04d %d %d %d.%02d\n", c+1, c+1, day, 1+c%3, 10+c%30, c%100)
		}
	}
	path := filepath.Join(t.TempDir(), "cdnow.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalCommands(t *testing.T) {
	t.Parallel()
	file := cdnowFile(t)
	out, err := run(t, "eval", "clv", "--cdnow", file, "--calibration-end", "1997-09-30")
	if err != nil {
		t.Fatalf("eval clv: %v\n%s", err, out)
	}
	var clv evaluate.CLVReport
	if err := json.Unmarshal([]byte(out), &clv); err != nil {
		t.Fatalf("eval clv output is not the report: %v\n%s", err, out)
	}
	if clv.BGNBD.R <= 0 || clv.BGNBD.Alpha <= 0 || clv.GammaGamma.P <= 0 || clv.Customers == 0 {
		t.Errorf("eval clv: got %+v, want fitted parameters", clv)
	}

	out, err = run(t, "eval", "propensity", "--cdnow", file, "--cutoff", "1997-10-01", "--folds", "3", "--seed", "42")
	if err != nil {
		t.Fatalf("eval propensity: %v\n%s", err, out)
	}
	var prop evaluate.PropensityReport
	if err := json.Unmarshal([]byte(out), &prop); err != nil {
		t.Fatalf("eval propensity output is not the report: %v\n%s", err, out)
	}
	for _, name := range []string{"gradient_boosted_trees", "random_forest", "logistic_regression", "ensemble"} {
		if r, ok := prop.Models[name]; !ok || !(r.AUC >= 0 && r.AUC <= 1) {
			t.Errorf("eval propensity %s: got %+v, want an AUC in [0, 1]", name, r)
		}
		if v, ok := prop.Validation[name]; !ok || v > prop.Validation[prop.Selected] {
			t.Errorf("eval propensity %s: validation AUC %v (present %v), selected %q has %v; want the selected one best",
				name, v, ok, prop.Selected, prop.Validation[prop.Selected])
		}
	}

	tests := []struct {
		name string
		args []string
		want error
	}{
		{"cutoff outside the data", []string{"eval", "propensity", "--cdnow", file, "--cutoff", "2001-01-01"}, evaluate.ErrCutoffOutsideData},
		{"missing file", []string{"eval", "clv", "--cdnow", filepath.Join(t.TempDir(), "absent.txt")}, os.ErrNotExist},
	}
	for _, tt := range tests {
		if _, err := run(t, tt.args...); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := run(t, "eval", "clv"); err == nil {
		t.Errorf("eval clv without --cdnow: got nil, want an error")
	}
}
