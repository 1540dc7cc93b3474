// Package segment compiles and evaluates rule segments: CEL expressions over the profile,
// which a rule sees as the variable p (a strata.profile.v1.Profile, with its protobuf
// field names: p.rfm.tier, p.aggregates.d30.learning_minutes, p.predictions.churn_risk,
// p.consent["email"], p.lifecycle.stage) and the time of evaluation as now (p.as_of).
// Numbers compare across int and double (p.aggregates.d30.learning_minutes > 60).
//
// A rule that fails on a profile (a missing map key, a cost over the limit) does not
// match it; write `has(p.predictions)` or `"email" in p.consent` to be explicit.
//
// A [Registry] holds the current definitions, compiled; it is safe for concurrent use.
package segment

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// ErrInvalidRule is wrapped by the *RuleError Compile returns.
var ErrInvalidRule = errors.New("segment: invalid rule")

// costLimit bounds one evaluation, so a pathological rule cannot stall profile updates:
// comprehensions over the interest maps stay well below it.
const costLimit = 100_000

// Issue is one problem in a rule, at a 1-based line and column.
type Issue struct {
	Line, Column int
	Message      string
}

func (i Issue) String() string { return fmt.Sprintf("%d:%d: %s", i.Line, i.Column, i.Message) }

// RuleError lists why a rule does not compile. errors.Is(err, ErrInvalidRule) holds.
type RuleError struct {
	Issues []Issue
}

func (e *RuleError) Error() string {
	parts := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		parts[i] = is.String()
	}
	return "invalid rule: " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalidRule) hold.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }

// Compiler compiles rules. It is safe for concurrent use.
type Compiler struct {
	env *cel.Env
}

// NewCompiler returns a compiler whose rules see p and now.
func NewCompiler() (*Compiler, error) {
	env, err := cel.NewEnv(
		cel.Types(&profilev1.Profile{}),
		cel.Variable("p", cel.ObjectType("strata.profile.v1.Profile")),
		cel.Variable("now", cel.TimestampType),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, fmt.Errorf("segment: CEL environment: %w", err)
	}
	return &Compiler{env: env}, nil
}

// Rule is a compiled rule.
type Rule struct {
	src string
	prg cel.Program
}

// Compile parses and type-checks rule, which must be a bool expression. It returns a
// *RuleError for a rule with problems.
func (c *Compiler) Compile(rule string) (*Rule, error) {
	ast, iss := c.env.Compile(rule)
	if iss.Err() != nil {
		out := &RuleError{}
		for _, e := range iss.Errors() {
			out.Issues = append(out.Issues, Issue{Line: e.Location.Line(), Column: e.Location.Column() + 1, Message: e.Message})
		}
		return nil, out
	}
	if !ast.OutputType().IsExactType(types.BoolType) {
		return nil, &RuleError{Issues: []Issue{{Line: 1, Column: 1, Message: "rule must be a bool expression, got " + ast.OutputType().String()}}}
	}
	prg, err := c.env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &RuleError{Issues: []Issue{{Line: 1, Column: 1, Message: err.Error()}}}
	}
	return &Rule{src: rule, prg: prg}, nil
}

// Source returns the rule's text.
func (r *Rule) Source() string { return r.src }

// Match evaluates the rule on p, whose as_of is the rule's now. An evaluation error means
// no match and is returned for logging.
func (r *Rule) Match(p *profilev1.Profile) (bool, error) {
	out, _, err := r.prg.Eval(map[string]any{"p": p, "now": p.GetAsOf().AsTime()})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}

// Definition is a segment definition with its compiled rule.
type Definition struct {
	// Segment holds the definition fields (id, name, description, rule, version, times).
	Segment *profilev1.Segment
	Rule    *Rule
}

// Result is one segment's verdict on one profile.
type Result struct {
	SegmentID      string
	SegmentVersion int64
	Member         bool
}

// Registry holds the current definitions. The zero value is not usable; use NewRegistry.
type Registry struct {
	compiler *Compiler
	mu       sync.RWMutex
	defs     map[string]*Definition
	changed  chan struct{}
}

// NewRegistry returns an empty registry compiling with c.
func NewRegistry(c *Compiler) *Registry {
	return &Registry{compiler: c, defs: map[string]*Definition{}, changed: make(chan struct{})}
}

// Put compiles and stores seg, replacing an older version of it. A version older than the
// stored one is ignored. It reports whether the registry changed.
func (r *Registry) Put(seg *profilev1.Segment) (bool, error) {
	rule, err := r.compiler.Compile(seg.GetRule())
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.defs[seg.GetSegmentId()]; ok && cur.Segment.GetVersion() >= seg.GetVersion() {
		return false, nil
	}
	r.defs[seg.GetSegmentId()] = &Definition{Segment: seg, Rule: rule}
	r.notify()
	return true, nil
}

// Delete removes a definition, reporting whether it was there.
func (r *Registry) Delete(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.defs[id]; !ok {
		return false
	}
	delete(r.defs, id)
	r.notify()
	return true
}

// notify wakes the waiters of Changed; r.mu is held.
func (r *Registry) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change.
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// Get returns the definition of id.
func (r *Registry) Get(id string) (*Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[id]
	return d, ok
}

// List returns the definitions ordered by segment id.
func (r *Registry) List() []*Definition {
	r.mu.RLock()
	out := make([]*Definition, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Definition) int { return strings.Compare(a.Segment.GetSegmentId(), b.Segment.GetSegmentId()) })
	return out
}

// Evaluate returns the verdict of each of defs on p (derived as of the evaluation time).
// onError, when set, receives evaluation errors.
func Evaluate(defs []*Definition, p *profilev1.Profile, onError func(segmentID string, err error)) []Result {
	out := make([]Result, len(defs))
	for i, d := range defs {
		m, err := d.Rule.Match(p)
		if err != nil && onError != nil {
			onError(d.Segment.GetSegmentId(), err)
		}
		out[i] = Result{SegmentID: d.Segment.GetSegmentId(), SegmentVersion: d.Segment.GetVersion(), Member: m}
	}
	return out
}

// Members returns the ids of the segments results say p belongs to, in order.
func Members(results []Result) []string {
	var out []string
	for _, r := range results {
		if r.Member {
			out = append(out, r.SegmentID)
		}
	}
	return out
}
