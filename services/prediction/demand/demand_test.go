package demand_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/demand"
	"github.com/stratahq/strata/services/prediction/features"
)

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func day(d float64) time.Time { return day0.Add(time.Duration(d * 24 * float64(time.Hour))) }

func orderIn(user string, d float64, cats ...string) *eventv1.Event {
	o := &eventv1.Order{OrderId: fmt.Sprintf("%s-%v", user, d)}
	for _, c := range cats {
		o.Items = append(o.Items, &eventv1.OrderItem{ItemId: c + "-item", Quantity: 1, Category: c})
	}
	return &eventv1.Event{EventId: o.OrderId, UserId: user, Event: features.OrderCompleted, Timestamp: timestamppb.New(day(d)), Order: o}
}

func viewOf(user string, d float64, cat string) *eventv1.Event {
	props, _ := structpb.NewStruct(map[string]any{"category": cat})
	return &eventv1.Event{EventId: fmt.Sprintf("%s-v-%v", user, d), UserId: user, Event: "Product Viewed", Timestamp: timestamppb.New(day(d)), Properties: props}
}

// world simulates users over 300 days who buy from a home category half the time,
// from the successor of their last order's category a quarter of the time and from a
// popular category otherwise, and browse mostly their home category.
func world(users int, seed uint64) map[string]*features.State {
	rng := rand.New(rand.NewPCG(seed, 7))
	const cats = 12
	zipf := func() int {
		for {
			c := int(math.Floor(math.Pow(rng.Float64(), 2) * cats))
			if c < cats {
				return c
			}
		}
	}
	name := func(c int) string { return fmt.Sprintf("cat-%02d", c) }
	var events []*eventv1.Event
	for u := range users {
		id := fmt.Sprintf("u%04d", u)
		home, last := zipf(), -1
		for d := rng.Float64() * 30; d < 300; d += 5 + rng.ExpFloat64()*25 {
			if rng.Float64() < 0.6 {
				c := home
				if rng.Float64() < 0.3 {
					c = zipf()
				}
				events = append(events, viewOf(id, d, name(c)))
				continue
			}
			c := zipf()
			switch r := rng.Float64(); {
			case r < 0.5:
				c = home
			case r < 0.75 && last >= 0:
				c = (last + 1) % cats
			}
			events = append(events, orderIn(id, d, name(c)))
			last = c
		}
	}
	return features.Replay(events)
}

func TestFitBeatsPopularityOnATimeSplit(t *testing.T) {
	t.Parallel()
	states := world(1500, 1)
	cut := day(240)
	m, err := demand.Fit(context.Background(), states, cut, demand.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for k, w := range m.Weights {
		if w < 0 || w > 1 {
			t.Errorf("weight %s: got %v, want in [0, 1]", demand.Names[k], w)
		}
		sum += w
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("weights sum to %v, want 1", sum)
	}
	if m.Weights[demand.History] < m.Weights[demand.Popularity] {
		t.Errorf("weights %v: want purchase history above popularity in a world of home categories", m.Weights)
	}
	ev := m.Evaluate(states, cut, day(300), 3)
	t.Logf("weights %.3f; %+v", m.Weights, ev)
	if ev.Users < 500 {
		t.Fatalf("evaluation users: got %d, want >= 500", ev.Users)
	}
	if !(ev.HitRate > ev.PopularityHitRate+0.1) || !(ev.LogLoss < ev.PopularityLogLoss) {
		t.Errorf("hit rate@3 %.3f (popularity %.3f), log loss %.3f (popularity %.3f): want the model ahead",
			ev.HitRate, ev.PopularityHitRate, ev.LogLoss, ev.PopularityLogLoss)
	}
}

func TestPredictExplainsEveryScore(t *testing.T) {
	t.Parallel()
	states := world(400, 2)
	m, err := demand.Fit(context.Background(), states, day(240), demand.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var newcomer features.State
	tests := []struct {
		name     string
		state    *features.State
		fallback bool
	}{
		{"buyer", states["u0001"], false},
		{"newcomer", &newcomer, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores := m.Predict(tt.state, day(240))
			if len(scores) != len(m.Categories) {
				t.Fatalf("got %d scores, want %d", len(scores), len(m.Categories))
			}
			var total float64
			for i, sc := range scores {
				var parts float64
				for k := range demand.NumComponents {
					parts += sc.Parts[k]
					if sc.Sentence(k) == "" {
						t.Errorf("%s: no sentence for %s", sc.Category, demand.Names[k])
					}
				}
				if math.Abs(parts-sc.Probability) > 1e-12 {
					t.Errorf("%s: parts add to %v, probability %v", sc.Category, parts, sc.Probability)
				}
				if i > 0 && sc.Probability > scores[i-1].Probability {
					t.Errorf("scores not sorted at %d", i)
				}
				if sc.Fallback[demand.History] != tt.fallback {
					t.Errorf("%s history fallback: got %v, want %v", sc.Category, sc.Fallback[demand.History], tt.fallback)
				}
				total += sc.Probability
			}
			if math.Abs(total-1) > 1e-9 {
				t.Errorf("probabilities add to %v, want 1", total)
			}
		})
	}
	// A newcomer gets the prior: the popularity order.
	for i, sc := range m.Predict(&newcomer, day(240)) {
		if sc.Category != m.Categories[i] {
			t.Fatalf("newcomer rank %d: got %s, want %s", i, sc.Category, m.Categories[i])
		}
	}
}

func TestModelRoundTripsAndNeedsPurchases(t *testing.T) {
	t.Parallel()
	states := world(200, 3)
	m, err := demand.Fit(context.Background(), states, day(240), demand.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back demand.Model
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	a, z := m.Predict(states["u0003"], day(250)), back.Predict(states["u0003"], day(250))
	for i := range a {
		if a[i].Category != z[i].Category || a[i].Probability != z[i].Probability {
			t.Fatalf("rank %d after JSON: got %v %v, want %v %v", i, z[i].Category, z[i].Probability, a[i].Category, a[i].Probability)
		}
	}
	if _, err := demand.Fit(context.Background(), states, day(0), demand.Config{}); !errors.Is(err, demand.ErrNoPurchases) {
		t.Errorf("fit before any purchase: got %v, want ErrNoPurchases", err)
	}
}
