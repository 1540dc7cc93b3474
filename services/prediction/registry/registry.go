// Package registry keeps versioned model artefacts: each version records its model,
// learner, features, training window, a hash of its training data and its validation
// metrics next to the artefact itself. One version per model is promoted (the one that
// scores); a new version is promoted only if it is not worse than the current one on
// the validation metric, and Rollback returns to the previously promoted version.
//
// Storage is a directory (Config.Dir, env STRATA_PREDICTION_MODEL_DIR): one JSON file
// per version under <dir>/<model>/<version>.json and the promotion history in
// <dir>/promotions.json, each written to a temporary file and renamed into place, so a
// crash leaves either the old or the new file. With no directory the registry lives in
// memory only and starts empty with every process.
//
// A Registry is safe for concurrent use; it assumes it is the only writer of its
// directory (one prediction instance trains; the others may open the same directory
// read-only with Reload).
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/stratahq/strata/services/prediction/metrics"
)

// Errors.
var (
	// ErrNotFound is returned for an unknown model or version.
	ErrNotFound = errors.New("registry: not found")
	// ErrWorse is returned by Promote when the candidate is worse than the current
	// version on the validation metric.
	ErrWorse = errors.New("registry: candidate is worse than the promoted version")
	// ErrNoPrevious is returned by Rollback when there is nothing to roll back to.
	ErrNoPrevious = errors.New("registry: no previously promoted version")
	// ErrInvalid is returned for a version with a bad model or version name.
	ErrInvalid = errors.New("registry: invalid version")
	// ErrExists is returned when registering a version twice.
	ErrExists = errors.New("registry: version already registered")
)

// Version describes one registered artefact.
type Version struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Learner string `json:"learner"`
	// Features are the names of the inputs, in order.
	Features []string `json:"features,omitempty"`
	// TrainedAt is when training ran; WindowStart and WindowEnd bound the events the
	// training data came from (labels included).
	TrainedAt   time.Time `json:"trained_at"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// DataHash identifies the training data (SHA-256 of the examples).
	DataHash string `json:"data_hash,omitempty"`
	// Metrics are validation metrics (e.g. "auc", "log_loss", "brier").
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Validation describes the window the metrics were measured on, for model
	// reports; nil for models without one (lifetime value).
	Validation *Validation `json:"validation,omitempty"`
	// Promoted is set in listings for the version that currently scores.
	Promoted bool `json:"-"`
}

// Validation is how a version was validated: on the examples of a time-based window
// (features before Cutoff, labels after it) that the version did not train on.
type Validation struct {
	Cutoff    time.Time `json:"cutoff"`
	Examples  int       `json:"examples"`
	Positives int       `json:"positives"`
	// Calibration names the probability calibration ("platt", "isotonic" or "").
	Calibration string `json:"calibration,omitempty"`
	// Curve is the calibration curve of the version's scores on the window.
	Curve []metrics.Bin `json:"curve,omitempty"`
	// ROC is the ROC curve of the version's scores on the window, thinned.
	ROC []metrics.ROCPoint `json:"roc,omitempty"`
	// Importance is each feature's mean absolute contribution on the window, largest
	// first.
	Importance []Importance `json:"importance,omitempty"`
}

// Importance is how much one feature moves a version's scores: the mean absolute
// contribution (SHAP value, probability units) over validation examples.
type Importance struct {
	Feature             string  `json:"feature"`
	MeanAbsContribution float64 `json:"mean_abs_contribution"`
}

// Entry is a version with its artefact.
type Entry struct {
	Version  Version         `json:"version"`
	Artifact json.RawMessage `json:"artifact"`
}

// Config configures a Registry.
type Config struct {
	// Dir is where artefacts are stored; empty keeps them in memory.
	Dir string `env:"PREDICTION_MODEL_DIR"`
	// Metric is the validation metric promotion compares; default "auc".
	Metric string `env:"-"`
	// LowerIsBetter says the metric improves downwards (log loss, Brier).
	LowerIsBetter bool `env:"-"`
}

// Registry stores and promotes versions.
type Registry struct {
	cfg        Config
	mu         sync.RWMutex
	entries    map[string]map[string]Entry // model → version → entry
	promotions map[string][]string         // model → promoted versions, oldest first
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Open opens (creating if needed) the registry in cfg.Dir, or an in-memory one.
func Open(cfg Config) (*Registry, error) {
	if cfg.Metric == "" {
		cfg.Metric = "auc"
	}
	r := &Registry{cfg: cfg}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload re-reads the directory.
func (r *Registry) Reload() error {
	entries := map[string]map[string]Entry{}
	promotions := map[string][]string{}
	if r.cfg.Dir != "" {
		models, err := os.ReadDir(r.cfg.Dir)
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		for _, m := range models {
			if !m.IsDir() {
				continue
			}
			files, err := filepath.Glob(filepath.Join(r.cfg.Dir, m.Name(), "*.json"))
			if err != nil {
				return fmt.Errorf("registry: %w", err)
			}
			for _, f := range files {
				var e Entry
				if err := readJSON(f, &e); err != nil {
					return err
				}
				m := e.Version.Model
				if entries[m] == nil {
					entries[m] = map[string]Entry{}
				}
				entries[m][e.Version.Version] = e
			}
		}
		if err := readJSON(filepath.Join(r.cfg.Dir, "promotions.json"), &promotions); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Dir != "" || r.entries == nil {
		r.entries, r.promotions = entries, promotions
	}
	return nil
}

// Register stores a new version with its artefact (marshalled to JSON). It does not
// promote it.
func (r *Registry) Register(v Version, artifact any) error {
	if !validName.MatchString(v.Model) || !validName.MatchString(v.Version) {
		return fmt.Errorf("%w: model %q version %q", ErrInvalid, v.Model, v.Version)
	}
	raw, err := json.Marshal(artifact)
	if err != nil {
		return fmt.Errorf("registry: marshal artefact: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[v.Model][v.Version]; ok {
		return fmt.Errorf("%w: %s/%s", ErrExists, v.Model, v.Version)
	}
	v.Promoted = false
	e := Entry{Version: v, Artifact: raw}
	if r.cfg.Dir != "" {
		if err := writeJSON(filepath.Join(r.cfg.Dir, v.Model, v.Version+".json"), e); err != nil {
			return err
		}
	}
	if r.entries[v.Model] == nil {
		r.entries[v.Model] = map[string]Entry{}
	}
	r.entries[v.Model][v.Version] = e
	return nil
}

// Promote makes version the scoring one of model, unless it is worse than the
// current one on the validation metric (ErrWorse). A version without the metric is
// promoted only when nothing is promoted yet.
func (r *Registry) Promote(model, version string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cand, ok := r.entries[model][version]
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, model, version)
	}
	hist := r.promotions[model]
	if n := len(hist); n > 0 {
		if hist[n-1] == version {
			return nil
		}
		cur := r.entries[model][hist[n-1]]
		cm, cok := cur.Version.Metrics[r.cfg.Metric]
		nm, nok := cand.Version.Metrics[r.cfg.Metric]
		worse := (!nok && cok) || (nok && cok && r.worse(nm, cm))
		if worse {
			return fmt.Errorf("%w: %s %s=%v, promoted %s has %v", ErrWorse, version, r.cfg.Metric, nm, hist[n-1], cm)
		}
	}
	return r.setPromotions(model, append(slices.Clone(hist), version))
}

// PromoteAgainst makes version the scoring one of model if its validation metric is
// not worse than current, the promoted version's metrics measured on the candidate's
// validation window (the fair comparison); a nil current promotes unconditionally.
func (r *Registry) PromoteAgainst(model, version string, current map[string]float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cand, ok := r.entries[model][version]
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, model, version)
	}
	if current != nil {
		cm, cok := current[r.cfg.Metric]
		nm, nok := cand.Version.Metrics[r.cfg.Metric]
		if cok && (!nok || r.worse(nm, cm)) {
			return fmt.Errorf("%w: %s %s=%v, promoted version has %v on the same window", ErrWorse, version, r.cfg.Metric, nm, cm)
		}
	}
	hist := r.promotions[model]
	if n := len(hist); n > 0 && hist[n-1] == version {
		return nil
	}
	return r.setPromotions(model, append(slices.Clone(hist), version))
}

func (r *Registry) worse(candidate, current float64) bool {
	if r.cfg.LowerIsBetter {
		return candidate > current
	}
	return candidate < current
}

// Rollback demotes the current version of model and promotes the one before it,
// returning it.
func (r *Registry) Rollback(model string) (Version, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hist := r.promotions[model]
	if len(hist) < 2 {
		return Version{}, fmt.Errorf("%w: %s", ErrNoPrevious, model)
	}
	hist = slices.Clone(hist[:len(hist)-1])
	if err := r.setPromotions(model, hist); err != nil {
		return Version{}, err
	}
	v := r.entries[model][hist[len(hist)-1]].Version
	v.Promoted = true
	return v, nil
}

func (r *Registry) setPromotions(model string, hist []string) error {
	next := make(map[string][]string, len(r.promotions)+1)
	for k, v := range r.promotions {
		next[k] = v
	}
	next[model] = hist
	if r.cfg.Dir != "" {
		if err := writeJSON(filepath.Join(r.cfg.Dir, "promotions.json"), next); err != nil {
			return err
		}
	}
	r.promotions = next
	return nil
}

// Current returns the promoted entry of model.
func (r *Registry) Current(model string) (Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	hist := r.promotions[model]
	if len(hist) == 0 {
		return Entry{}, false
	}
	e := r.entries[model][hist[len(hist)-1]]
	e.Version.Promoted = true
	return e, true
}

// Get returns one version of model; an empty version means the promoted one.
func (r *Registry) Get(model, version string) (Entry, error) {
	if version == "" {
		if e, ok := r.Current(model); ok {
			return e, nil
		}
		return Entry{}, fmt.Errorf("%w: no promoted version of %s", ErrNotFound, model)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[model][version]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s/%s", ErrNotFound, model, version)
	}
	if h := r.promotions[model]; len(h) > 0 && h[len(h)-1] == version {
		e.Version.Promoted = true
	}
	return e, nil
}

// List returns every version, by model then training time.
func (r *Registry) List() []Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Version
	for model, vs := range r.entries {
		cur := ""
		if h := r.promotions[model]; len(h) > 0 {
			cur = h[len(h)-1]
		}
		for _, e := range vs {
			v := e.Version
			v.Promoted = v.Version == cur
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		if !out[i].TrainedAt.Equal(out[j].TrainedAt) {
			return out[i].TrainedAt.Before(out[j].TrainedAt)
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("registry: %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("registry: marshal: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("registry: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("registry: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("registry: close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("registry: rename %s: %w", path, err)
	}
	return nil
}
