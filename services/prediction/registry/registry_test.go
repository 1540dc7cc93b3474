package registry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stratahq/strata/services/prediction/registry"
)

func version(name string, auc float64, at int) registry.Version {
	return registry.Version{
		Model: "purchase_propensity", Version: name, Learner: "gradient_boosted_trees",
		TrainedAt: time.Date(2026, 11, at, 0, 0, 0, 0, time.UTC), Metrics: map[string]float64{"auc": auc},
	}
}

func TestPromoteRollbackAndPersistence(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		dir  string
	}{{"memory", ""}, {"directory", t.TempDir()}} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := registry.Open(registry.Config{Dir: tt.dir})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if _, ok := r.Current("purchase_propensity"); ok {
				t.Fatalf("Current on an empty registry: got a version, want none")
			}
			steps := []struct {
				v       registry.Version
				wantErr error
				current string
			}{
				{version("v1", 0.70, 1), nil, "v1"},
				{version("v2", 0.75, 2), nil, "v2"},
				{version("v3", 0.74, 3), registry.ErrWorse, "v2"},
				{version("v4", 0.75, 4), nil, "v4"}, // equal is not worse
			}
			for _, s := range steps {
				if err := r.Register(s.v, map[string]string{"name": s.v.Version}); err != nil {
					t.Fatalf("Register %s: %v", s.v.Version, err)
				}
				if err := r.Promote(s.v.Model, s.v.Version); !errors.Is(err, s.wantErr) {
					t.Fatalf("Promote %s: got %v, want %v", s.v.Version, err, s.wantErr)
				}
				if cur, _ := r.Current("purchase_propensity"); cur.Version.Version != s.current {
					t.Fatalf("after %s: current %s, want %s", s.v.Version, cur.Version.Version, s.current)
				}
			}
			if err := r.Register(version("v1", 0.9, 5), nil); !errors.Is(err, registry.ErrExists) {
				t.Errorf("Register v1 twice: got %v, want ErrExists", err)
			}
			v, err := r.Rollback("purchase_propensity")
			if err != nil || v.Version != "v2" || !v.Promoted {
				t.Fatalf("Rollback: got %+v, %v; want v2 promoted", v, err)
			}
			list := r.List()
			if len(list) != 4 {
				t.Fatalf("List: got %d versions, want 4", len(list))
			}
			for _, v := range list {
				if v.Promoted != (v.Version == "v2") {
					t.Errorf("List: %s promoted=%v", v.Version, v.Promoted)
				}
			}
			if tt.dir == "" {
				return
			}
			again, err := registry.Open(registry.Config{Dir: tt.dir})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			cur, ok := again.Current("purchase_propensity")
			if !ok || cur.Version.Version != "v2" || string(cur.Artifact) != `{"name":"v2"}` {
				t.Errorf("reopened current: got %s %s, want v2 with its artefact", cur.Version.Version, cur.Artifact)
			}
			if got := len(again.List()); got != 4 {
				t.Errorf("reopened List: got %d, want 4", got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	r, _ := registry.Open(registry.Config{})
	if err := r.Promote("churn_risk", "v1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Promote unknown: got %v, want ErrNotFound", err)
	}
	if _, err := r.Rollback("churn_risk"); !errors.Is(err, registry.ErrNoPrevious) {
		t.Errorf("Rollback empty: got %v, want ErrNoPrevious", err)
	}
	if err := r.Register(registry.Version{Model: "../etc", Version: "v1"}, nil); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("Register path traversal: got %v, want ErrInvalid", err)
	}
}

func TestLowerIsBetter(t *testing.T) {
	t.Parallel()
	r, _ := registry.Open(registry.Config{Metric: "log_loss", LowerIsBetter: true})
	a := registry.Version{Model: "churn_risk", Version: "a", Metrics: map[string]float64{"log_loss": 0.4}}
	b := registry.Version{Model: "churn_risk", Version: "b", Metrics: map[string]float64{"log_loss": 0.5}}
	for _, v := range []registry.Version{a, b} {
		if err := r.Register(v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Promote("churn_risk", "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Promote("churn_risk", "b"); !errors.Is(err, registry.ErrWorse) {
		t.Errorf("Promote higher log loss: got %v, want ErrWorse", err)
	}
}

func TestPromoteAgainst(t *testing.T) {
	t.Parallel()
	r, _ := registry.Open(registry.Config{})
	for _, v := range []registry.Version{version("a", 0.70, 1), version("b", 0.60, 2), version("c", 0.65, 3)} {
		if err := r.Register(v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.PromoteAgainst("purchase_propensity", "a", nil); err != nil {
		t.Fatalf("first promotion: %v", err)
	}
	// b is worse than a on the window where a was re-measured at 0.62.
	if err := r.PromoteAgainst("purchase_propensity", "b", map[string]float64{"auc": 0.62}); !errors.Is(err, registry.ErrWorse) {
		t.Errorf("b against 0.62: got %v, want ErrWorse", err)
	}
	// c beats a's 0.62 on the same window, though a's own record says 0.70.
	if err := r.PromoteAgainst("purchase_propensity", "c", map[string]float64{"auc": 0.62}); err != nil {
		t.Errorf("c against 0.62: got %v, want promoted", err)
	}
	if cur, _ := r.Current("purchase_propensity"); cur.Version.Version != "c" {
		t.Errorf("current: got %s, want c", cur.Version.Version)
	}
}
