package pipeline

import (
	"unicode/utf8"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// satisfiesRules reports whether ev certainly satisfies the protovalidate rules that
// event.proto declares on strata.event.v1.Event, checked directly: protovalidate's
// reflective, CEL-driven evaluation cost more per event than decoding it. false means
// "not certain": Validate then asks protovalidate, which stays the judge and names the
// violations. So this check may be stricter than the rules, never looser; events with an
// Order (whose rules it does not repeat) always go to protovalidate.
//
// TestRulesFingerprint fails when the rules in event.proto change, and FuzzRules checks
// that this function and protovalidate agree: update both with this function.
func satisfiesRules(ev *eventv1.Event) bool {
	if ev.GetOrder() != nil || ev.GetTimestamp() == nil {
		return false
	}
	if t := ev.GetType(); t < eventv1.EventType_EVENT_TYPE_TRACK || t > eventv1.EventType_EVENT_TYPE_ALIAS {
		return false
	}
	// event.identity and event.track_name.
	if ev.GetUserId() == "" && ev.GetAnonymousId() == "" {
		return false
	}
	if ev.GetType() == eventv1.EventType_EVENT_TYPE_TRACK && ev.GetEvent() == "" {
		return false
	}
	return ev.GetEventId() != "" &&
		maxChars(ev.GetEventId(), 128) &&
		maxChars(ev.GetEvent(), 200) &&
		maxChars(ev.GetUserId(), 256) &&
		maxChars(ev.GetAnonymousId(), 256) &&
		maxChars(ev.GetPreviousId(), 256) &&
		maxChars(ev.GetGroupId(), 256) &&
		maxChars(ev.GetName(), 200) &&
		maxChars(ev.GetSourceId(), 128)
}

// maxChars is protovalidate's string.max_len: at most n Unicode code points.
func maxChars(s string, n int) bool {
	return len(s) <= n || utf8.RuneCountInString(s) <= n
}
