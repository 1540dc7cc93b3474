// Package state folds behaviour events into a user's profile. It is pure: no I/O, no
// clock, so replaying the same events in the same order gives the same profile.
//
// Idempotency: a profile records the Kafka position of the last event it applied; Apply
// ignores an event at or before that position on the same partition, so a redelivery
// after a crash or a rebalance counts nothing twice.
package state

import (
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
)

// Applied reports whether the event at pos was already applied to p.
func Applied(p *profilev1.Profile, pos *profilev1.Position) bool {
	a := p.GetApplied()
	return a != nil && a.GetPartition() == pos.GetPartition() && pos.GetOffset() <= a.GetOffset()
}

// Apply folds ev, read at pos, into p (which may be nil for a new user) and returns the
// profile and whether it changed.
func Apply(p *profilev1.Profile, userID string, ev *eventv1.Event, pos *profilev1.Position) (*profilev1.Profile, bool) {
	if p == nil {
		p = &profilev1.Profile{UserId: userID}
	}
	if Applied(p, pos) {
		return p, false
	}
	if p.EventCounts == nil {
		p.EventCounts = map[string]int64{}
	}
	p.EventCounts[CountKey(ev)]++
	p.EventsTotal++

	ts := ev.GetTimestamp()
	if ts != nil {
		if p.FirstSeen == nil || ts.AsTime().Before(p.FirstSeen.AsTime()) {
			p.FirstSeen = timestamppb.New(ts.AsTime())
		}
		if p.LastSeen == nil || ts.AsTime().After(p.LastSeen.AsTime()) {
			p.LastSeen = timestamppb.New(ts.AsTime())
		}
	}
	if anon := ev.GetAnonymousId(); anon != "" && anon != p.GetUserId() && !contains(p.AnonymousIds, anon) {
		p.AnonymousIds = append(p.AnonymousIds, anon)
	}
	if ev.GetType() == eventv1.EventType_EVENT_TYPE_IDENTIFY && len(ev.GetTraits().GetFields()) > 0 {
		if p.Traits == nil {
			p.Traits = &structpb.Struct{}
		}
		if p.Traits.Fields == nil {
			// An empty struct decodes without a map.
			p.Traits.Fields = map[string]*structpb.Value{}
		}
		for k, v := range ev.GetTraits().GetFields() {
			p.Traits.Fields[k] = v
		}
	}
	p.Version++
	p.Applied = &profilev1.Position{Partition: pos.GetPartition(), Offset: pos.GetOffset()}
	return p, true
}

// CountKey is the name an event is counted under: the track event name, or the call type
// ("identify", "page", …) for other calls.
func CountKey(ev *eventv1.Event) string {
	if ev.GetType() == eventv1.EventType_EVENT_TYPE_TRACK && ev.GetEvent() != "" {
		return ev.GetEvent()
	}
	return strings.ToLower(strings.TrimPrefix(ev.GetType().String(), "EVENT_TYPE_"))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
