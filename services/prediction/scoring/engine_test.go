package scoring_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/model"
	"github.com/stratahq/strata/services/prediction/registry"
	"github.com/stratahq/strata/services/prediction/scoring"
)

type recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
	fail error
}

func (r *recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) take() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func order(user string, at time.Time, cents int64) *eventv1.Event {
	id := fmt.Sprintf("%s-%d", user, at.UnixNano())
	return &eventv1.Event{
		EventId: id, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Order Completed", UserId: user,
		Timestamp: timestamppb.New(at),
		Order: &eventv1.Order{OrderId: id, RevenueMinor: cents, Currency: "CNY", Items: []*eventv1.OrderItem{
			{ItemId: "c1", Quantity: 1, Category: categoryOf(user, at)},
		}},
	}
}

// categoryOf is the category a user buys from at a time: a home category (by the
// user's name) two times in three, another one otherwise.
func categoryOf(user string, at time.Time) string {
	var h uint32
	for _, c := range user {
		h = h*31 + uint32(c)
	}
	if at.Unix()/3600%3 == 0 {
		return fmt.Sprintf("cat-%d", at.Unix()/86400%6)
	}
	return fmt.Sprintf("cat-%d", h%6)
}

func lesson(user string, at time.Time) *eventv1.Event {
	return &eventv1.Event{
		EventId: fmt.Sprintf("%s-l-%d", user, at.UnixNano()), Type: eventv1.EventType_EVENT_TYPE_TRACK,
		Event: "Lesson Completed", UserId: user, Timestamp: timestamppb.New(at),
	}
}

func newEngine(t *testing.T, cfg scoring.Config) (*scoring.Engine, *recorder, *clock, *registry.Registry) {
	t.Helper()
	clk := &clock{now: t0}
	cfg.Now = clk.Now
	reg, err := registry.Open(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pub := &recorder{}
	e, err := scoring.New(cfg, reg, pub, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, pub, clk, reg
}

func eventMsg(t *testing.T, partition int, offset int64, ev *eventv1.Event) bus.Message {
	t.Helper()
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: topics.Events, Key: []byte(ev.GetUserId()), Value: b, Partition: partition, Offset: offset}
}

func TestDebouncedPublishAndIdempotency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, pub, clk, _ := newEngine(t, scoring.Config{Debounce: time.Second})
	msgs := []bus.Message{
		eventMsg(t, 0, 10, order("u1", t0.Add(-40*24*time.Hour), 9900)),
		eventMsg(t, 0, 11, order("u1", t0.Add(-10*24*time.Hour), 4900)),
		eventMsg(t, 1, 5, lesson("u2", t0.Add(-time.Hour))),
	}
	if err := bus.InOrder(e.Handle)(ctx, msgs); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if err := e.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := pub.take(); len(got) != 0 {
		t.Fatalf("before the debounce interval: got %d published, want 0", len(got))
	}
	clk.advance(2 * time.Second)
	if err := e.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := pub.take()
	if len(got) != 2 {
		t.Fatalf("after the debounce interval: got %d published, want 2 (one per user)", len(got))
	}
	byUser := map[string]*predictionv1.Prediction{}
	for _, m := range got {
		if m.Topic != topics.Predictions {
			t.Errorf("topic: got %s, want %s", m.Topic, topics.Predictions)
		}
		var p predictionv1.Prediction
		if err := proto.Unmarshal(m.Value, &p); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != p.GetUserId() {
			t.Errorf("key %q, user %q: want equal", m.Key, p.GetUserId())
		}
		byUser[p.GetUserId()] = &p
	}
	u1 := byUser["u1"]
	if u1 == nil || u1.GetClvMinor() <= 0 || u1.GetPAlive() <= 0 || u1.GetPAlive() > 1 || u1.GetCurrency() != "CNY" {
		t.Errorf("u1 prediction: got %v, want positive CLV, p_alive in (0,1], currency CNY", u1)
	}
	if got := u1.GetModelVersions()[scoring.ModelCLV]; got != scoring.PriorCLVVersion {
		t.Errorf("u1 CLV version: got %q, want the prior %q", got, scoring.PriorCLVVersion)
	}
	if u2 := byUser["u2"]; u2 == nil || u2.GetClvMinor() != 0 {
		t.Errorf("u2 (no orders): got %v, want a prediction without CLV", u2)
	}

	// Redelivery changes nothing and publishes nothing.
	before, _ := e.Predict(ctx, "u1")
	for _, m := range msgs {
		if err := e.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(2 * time.Second)
	if err := e.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	after, _ := e.Predict(ctx, "u1")
	if before.GetClvMinor() != after.GetClvMinor() {
		t.Errorf("CLV after redelivery: got %d, want %d", after.GetClvMinor(), before.GetClvMinor())
	}
	if got := pub.take(); len(got) != 0 {
		t.Errorf("after redelivery: got %d published, want 0", len(got))
	}

	// A profile update carrying our own prediction (same applied position twice)
	// does not loop.
	prof := func(offset int64) bus.Message {
		b, _ := proto.Marshal(&profilev1.Profile{UserId: "u1", Applied: &profilev1.Position{Offset: offset}})
		return bus.Message{Topic: topics.Profiles, Key: []byte("u1"), Value: b}
	}
	for range 3 {
		if err := e.Handle(ctx, prof(11)); err != nil {
			t.Fatal(err)
		}
		clk.advance(2 * time.Second)
		if err := e.Flush(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := pub.take(); len(got) != 0 {
		t.Errorf("profile updates without new events: got %d published, want 0", len(got))
	}

	// A tombstone erases the user and tombstones the prediction.
	if err := e.Handle(ctx, bus.Message{Topic: topics.Profiles, Key: []byte("u2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Predict(ctx, "u2"); !errors.Is(err, scoring.ErrUnknownUser) {
		t.Errorf("Predict erased user: got %v, want ErrUnknownUser", err)
	}
	if got := pub.take(); len(got) != 1 || string(got[0].Key) != "u2" || got[0].Value != nil || got[0].Topic != topics.Predictions {
		t.Errorf("after erasure: got %v, want one prediction tombstone for u2", got)
	}
}

func TestPublishFailureKeepsUsersDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, pub, clk, _ := newEngine(t, scoring.Config{Debounce: time.Millisecond})
	e.Apply(0, 1, order("u1", t0.Add(-24*time.Hour), 100))
	clk.advance(time.Second)
	pub.fail = errors.New("broker down")
	if err := e.Flush(ctx, false); err == nil {
		t.Fatalf("Flush with a failing publisher: got nil, want an error")
	}
	pub.fail = nil
	if err := e.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := len(pub.take()); got != 1 {
		t.Errorf("after recovery: got %d published, want 1", got)
	}
}

func TestUndecodableEventIsPermanent(t *testing.T) {
	t.Parallel()
	e, _, _, _ := newEngine(t, scoring.Config{})
	err := e.Handle(context.Background(), bus.Message{Topic: topics.Events, Value: []byte{0xff, 0xff}})
	if !bus.IsPermanent(err) {
		t.Errorf("Handle garbage: got %v, want a permanent error", err)
	}
}

// population replays a synthetic history: users with heterogeneous buying rates who
// may drop out, with lessons between orders, over the 200 days before t0.
func population(e *scoring.Engine, n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	start := t0.Add(-200 * 24 * time.Hour)
	for i := range n {
		id := fmt.Sprintf("user-%04d", i)
		rate := rng.ExpFloat64() / 20 // orders per day
		drop := rng.Float64() * 0.3
		at := start.Add(time.Duration(rng.Float64()*100*24) * time.Hour)
		for at.Before(t0) {
			e.Apply(0, -1, order(id, at, int64(1000+rng.IntN(20000))))
			for range rng.IntN(4) {
				l := at.Add(time.Duration(rng.Float64()*10*24) * time.Hour)
				if l.Before(t0) {
					e.Apply(0, -1, lesson(id, l))
				}
			}
			if rng.Float64() < drop {
				break
			}
			at = at.Add(time.Duration(rng.ExpFloat64()/rate*24) * time.Hour)
		}
	}
}

func TestTrainPromoteExplainRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, _, clk, reg := newEngine(t, scoring.Config{Seed: 1, MinExamples: 100})
	population(e, 500, 7)

	rep, err := e.Train(ctx)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	for _, m := range rep.Models {
		if !m.Promoted || m.Version == "" {
			t.Errorf("%s: got %+v, want a promoted version", m.Model, m)
		}
		if auc, ok := m.Metrics["auc"]; ok && !(auc > 0.6) {
			t.Errorf("%s validation AUC: got %.3f, want > 0.6", m.Model, auc)
		}
	}
	cats, err := e.PredictCategories(ctx, "user-0001", 2)
	if err != nil {
		t.Fatalf("PredictCategories: %v", err)
	}
	if n := len(cats.GetCategories()); n != 2 || cats.GetModelVersion() == "" {
		t.Fatalf("PredictCategories: got %d categories, version %q; want 2 and a version", n, cats.GetModelVersion())
	}
	for _, c := range cats.GetCategories() {
		var sum float64
		for _, part := range c.GetContributions() {
			sum += part.GetContribution()
		}
		if math.Abs(sum-c.GetProbability()) > 1e-9 || c.GetText() == "" {
			t.Errorf("category %s: contributions add to %v, probability %v, text %q", c.GetCategory(), sum, c.GetProbability(), c.GetText())
		}
	}
	if h := rep.Models[3].Metrics; rep.Models[3].Model != scoring.ModelDemand || !(h["hit_rate_at_3"] > h["popularity_hit_rate_at_3"]) {
		t.Errorf("category demand: got %+v, want a hit rate@3 above popularity's", rep.Models[3])
	}
	for _, name := range []string{scoring.ModelPropensity, scoring.ModelChurn} {
		ent, err := reg.Get(name, "")
		if err != nil {
			t.Fatalf("report of %s: %v", name, err)
		}
		if got := ent.Version.Learner; got != string(model.LogisticRegression) {
			t.Errorf("%s learner by default: got %q, want %q (the validation choice)", name, got, model.LogisticRegression)
		}
		val := ent.Version.Validation
		if val == nil || val.Calibration != "platt" || val.Examples == 0 || len(val.Curve) == 0 {
			t.Fatalf("%s validation: got %+v, want a Platt-calibrated curve", name, val)
		}
		n := 0
		for _, b := range val.Curve {
			n += b.Count
			if b.MeanPredicted < b.Lower || b.MeanPredicted > b.Upper {
				t.Errorf("%s bin [%v, %v) has mean %v", name, b.Lower, b.Upper, b.MeanPredicted)
			}
		}
		if n != val.Examples {
			t.Errorf("%s curve counts %d examples, validation has %d", name, n, val.Examples)
		}
		if r := val.ROC; len(r) < 2 || r[0].FalsePositiveRate != 0 || r[0].TruePositiveRate != 0 ||
			r[len(r)-1].FalsePositiveRate != 1 || r[len(r)-1].TruePositiveRate != 1 {
			t.Errorf("%s ROC: got %+v, want a curve from (0, 0) to (1, 1)", name, r)
		}
		if imp := val.Importance; len(imp) != len(features.Names) || !(imp[0].MeanAbsContribution > 0) {
			t.Errorf("%s importance: got %+v, want %d features, the first moving scores", name, imp, len(features.Names))
		} else {
			for i := 1; i < len(imp); i++ {
				if imp[i].MeanAbsContribution > imp[i-1].MeanAbsContribution {
					t.Errorf("%s importance not sorted at %d: %v after %v", name, i, imp[i], imp[i-1])
				}
			}
		}
	}
	p, err := e.Predict(ctx, "user-0001")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{scoring.ModelPropensity, scoring.ModelChurn, scoring.ModelCLV} {
		if p.GetModelVersions()[name] == "" {
			t.Errorf("prediction lacks a %s version: %v", name, p.GetModelVersions())
		}
	}
	if pp := p.GetPurchasePropensity(); !(pp > 0 && pp < 1) {
		t.Errorf("purchase propensity: got %v, want in (0, 1)", pp)
	}

	for _, m := range []predictionv1.Model{predictionv1.Model_MODEL_PURCHASE_PROPENSITY, predictionv1.Model_MODEL_CHURN_RISK, predictionv1.Model_MODEL_LIFETIME_VALUE, predictionv1.Model_MODEL_CATEGORY_DEMAND} {
		for _, u := range []string{"user-0001", "user-0100", "user-0377"} {
			ex, err := e.Explain(ctx, u, m)
			if err != nil {
				t.Fatalf("Explain %s %s: %v", m, u, err)
			}
			sum := ex.GetBaseValue()
			for _, c := range ex.GetContributions() {
				sum += c.GetContribution()
				if c.GetText() == "" {
					t.Errorf("Explain %s %s: contribution %s has no text", m, u, c.GetFeature())
				}
			}
			if math.Abs(sum-ex.GetScore()) > 1e-6 {
				t.Errorf("Explain %s %s: base + Σ = %.9f, score %.9f", m, u, sum, ex.GetScore())
			}
		}
	}
	ex, _ := e.Explain(ctx, "user-0001", predictionv1.Model_MODEL_PURCHASE_PROPENSITY)
	pred, _ := e.Predict(ctx, "user-0001")
	if math.Abs(ex.GetScore()-pred.GetPurchasePropensity()) > 1e-9 {
		t.Errorf("explained score %v, predicted %v: want equal", ex.GetScore(), pred.GetPurchasePropensity())
	}

	// A retrain is promoted only if it is not worse than the promoted version,
	// re-measured on the candidate's validation window; either way the registry and
	// the scores agree on what is promoted.
	clk.advance(time.Hour)
	rep2, err := e.Train(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := rep2.Models[0]
	want := rep.Models[0].Version
	if second.Promoted {
		want = second.Version
	} else if second.Reason == "" || second.Version == "" {
		t.Errorf("retrain not promoted: got %+v, want a registered version and a reason", second)
	}
	p, _ = e.Predict(ctx, "user-0001")
	if got := p.GetModelVersions()[scoring.ModelPropensity]; got != want {
		t.Errorf("after retrain: scoring with %s, want %s", got, want)
	}
	if second.Promoted {
		back, err := reg.Rollback(scoring.ModelPropensity)
		if err != nil || back.Version != rep.Models[0].Version {
			t.Fatalf("Rollback: got %v, %v; want %s", back.Version, err, rep.Models[0].Version)
		}
		if err := e.LoadModels(); err != nil {
			t.Fatal(err)
		}
		p, _ = e.Predict(ctx, "user-0001")
		if got := p.GetModelVersions()[scoring.ModelPropensity]; got != rep.Models[0].Version {
			t.Errorf("after rollback: scoring with %s, want %s", got, rep.Models[0].Version)
		}
	}
}

// TestEnsembleTrainsServesAndExplains runs the ensemble learner through the engine:
// registered as an ensemble, scored, and explained additively like the other learners.
func TestEnsembleTrainsServesAndExplains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, _, _, reg := newEngine(t, scoring.Config{Seed: 1, MinExamples: 100, Learner: model.Ensemble})
	population(e, 300, 7)
	if _, err := e.Train(ctx); err != nil {
		t.Fatalf("Train: %v", err)
	}
	ent, err := reg.Get(scoring.ModelPropensity, "")
	if err != nil {
		t.Fatal(err)
	}
	if v := ent.Version; v.Learner != string(model.Ensemble) || v.Validation == nil || v.Validation.Calibration != "platt" || !(v.Metrics["auc"] > 0.6) {
		t.Fatalf("propensity version: got learner %q, validation %+v, metrics %v; want a Platt-calibrated ensemble with AUC > 0.6", v.Learner, v.Validation, v.Metrics)
	}
	for _, u := range []string{"user-0001", "user-0100"} {
		ex, err := e.Explain(ctx, u, predictionv1.Model_MODEL_PURCHASE_PROPENSITY)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.Predict(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		sum := ex.GetBaseValue()
		for _, c := range ex.GetContributions() {
			sum += c.GetContribution()
		}
		if math.Abs(sum-ex.GetScore()) > 1e-6 || math.Abs(ex.GetScore()-p.GetPurchasePropensity()) > 1e-9 {
			t.Errorf("%s: base + Σ = %.9f, explained score %.9f, predicted %.9f; want all equal", u, sum, ex.GetScore(), p.GetPurchasePropensity())
		}
	}
}

func TestTrainWithTooLittleDataReportsWhy(t *testing.T) {
	t.Parallel()
	e, _, _, _ := newEngine(t, scoring.Config{})
	population(e, 20, 3)
	rep, err := e.Train(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Models[:2] {
		if m.Promoted || m.Reason == "" {
			t.Errorf("%s with 20 users: got %+v, want not trained with a reason", m.Model, m)
		}
	}
	if _, err := e.Explain(context.Background(), "user-0001", predictionv1.Model_MODEL_CHURN_RISK); !errors.Is(err, scoring.ErrNoModel) {
		t.Errorf("Explain without a churn model: got %v, want ErrNoModel", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  scoring.Config
		ok   bool
	}{
		{"zero", scoring.Config{}, true},
		{"negative debounce", scoring.Config{Debounce: -time.Second}, false},
		{"unknown learner", scoring.Config{Learner: "svm"}, false},
		{"forest", scoring.Config{Learner: "random_forest"}, true},
		{"ensemble", scoring.Config{Learner: "ensemble"}, true},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
