package features

import (
	"slices"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// Labeler decides the label of a user at a cutoff from the user's whole history (the
// part after the cutoff included), and whether the user belongs in the training set.
type Labeler func(s *State, cutoff time.Time) (label float64, include bool)

// PurchaseWithin labels 1 a user who orders in [cutoff, cutoff+horizon); a horizon <= 0
// means any time after the cutoff. Every user with an event before the cutoff is
// included.
func PurchaseWithin(horizon time.Duration) Labeler {
	return func(s *State, cutoff time.Time) (float64, bool) {
		end := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		if horizon > 0 {
			end = cutoff.Add(horizon)
		}
		if s.OrdersBetween(cutoff, end) > 0 {
			return 1, true
		}
		return 0, true
	}
}

// ChurnWithin labels 1 a user active in the window before the cutoff who has no event
// in [cutoff, cutoff+horizon); users inactive before the cutoff are left out.
func ChurnWithin(window, horizon time.Duration) Labeler {
	return func(s *State, cutoff time.Time) (float64, bool) {
		if s.EventsBetween(cutoff.Add(-window), cutoff) == 0 {
			return 0, false
		}
		if s.EventsBetween(cutoff, cutoff.Add(horizon)) == 0 {
			return 1, true
		}
		return 0, true
	}
}

// TrainingSet is a point-in-time correct set of labelled examples.
type TrainingSet struct {
	Cutoff time.Time
	// Users, X and Y are parallel: user id, feature vector as of Cutoff, label.
	Users []string
	X     [][]float64
	Y     []float64
}

// Replay applies events, in timestamp order, to one State per user id and returns the
// states. Events without a user id are skipped; events seen twice count once.
func Replay(events []*eventv1.Event) map[string]*State {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b *eventv1.Event) int {
		return a.GetTimestamp().AsTime().Compare(b.GetTimestamp().AsTime())
	})
	states := map[string]*State{}
	for _, e := range sorted {
		id := e.GetUserId()
		if id == "" {
			continue
		}
		s := states[id]
		if s == nil {
			s = &State{}
			states[id] = s
		}
		s.Apply(e)
	}
	return states
}

// BuildTrainingSet replays states at cutoff: every user with an event before the
// cutoff whom label includes becomes one example, features as of the cutoff, ordered by
// user id.
func BuildTrainingSet(states map[string]*State, cutoff time.Time, label Labeler) TrainingSet {
	ids := make([]string, 0, len(states))
	for id, s := range states {
		if !s.Empty(cutoff) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ts := TrainingSet{Cutoff: cutoff}
	for _, id := range ids {
		s := states[id]
		y, ok := label(s, cutoff)
		if !ok {
			continue
		}
		ts.Users = append(ts.Users, id)
		ts.X = append(ts.X, s.Vector(cutoff))
		ts.Y = append(ts.Y, y)
	}
	return ts
}
