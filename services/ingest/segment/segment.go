// Package segment decodes Segment-spec calls (track, identify, page, screen, group, alias
// and batch, as the official SDKs send them) into canonical events.
//
// Decoding validates what the Segment spec requires and names the offending field in a
// *FieldError; it normalises the timestamp for client clock skew the way Segment does:
// timestamp = receivedAt − (sentAt − originalTimestamp). Functions are pure and safe for
// concurrent use.
//
// JSON is read in one pass straight into the protobuf event (wire.go): ingest's hot path,
// three times cheaper than encoding/json into maps then structpb. It accepts what
// encoding/json accepted (names matched case-insensitively, duplicate names, invalid
// UTF-8 replaced by U+FFFD) and names the field of a value of the wrong JSON kind.
package segment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// Segment's published limits, and Strata's own on the shape of a message.
const (
	// MaxMessageBytes bounds one call, or one message of a batch (Segment: 32 KB).
	MaxMessageBytes = 32 << 10
	// MaxBatchBytes bounds the body of a batch (Segment: 500 KB), after gzip inflation.
	MaxBatchBytes = 500 << 10
	// MaxProperties bounds the top-level keys of properties, traits and context: an
	// event is a fact about a user, not a document; wide objects are almost always a
	// client bug (a map keyed by ids) that would bloat every consumer's state.
	MaxProperties = 256
	// MaxDepth bounds how deeply properties, traits and context nest.
	MaxDepth = 16
)

// FieldError names the field of a call that is wrong, with its index in a batch.
type FieldError struct {
	// Index is the message's position in a batch, or -1 for a single call.
	Index   int
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("batch[%d].%s: %s", e.Index, e.Field, e.Message)
	}
	return e.Field + ": " + e.Message
}

// ErrTooLarge is wrapped by errors about Segment's size limits.
var ErrTooLarge = errors.New("too large")

// tooLarge is the error for a body over limit.
func tooLarge(n, limit int) error {
	return fmt.Errorf("%w: body is %d bytes, limit %d", ErrTooLarge, n, limit)
}

var types = map[string]eventv1.EventType{
	"track":    eventv1.EventType_EVENT_TYPE_TRACK,
	"identify": eventv1.EventType_EVENT_TYPE_IDENTIFY,
	"page":     eventv1.EventType_EVENT_TYPE_PAGE,
	"screen":   eventv1.EventType_EVENT_TYPE_SCREEN,
	"group":    eventv1.EventType_EVENT_TYPE_GROUP,
	"alias":    eventv1.EventType_EVENT_TYPE_ALIAS,
}

// ParseType maps a call type ("track") to its enum; ok is false for unknown types.
func ParseType(s string) (eventv1.EventType, bool) {
	t, ok := types[strings.ToLower(strings.TrimSpace(s))]
	return t, ok
}

// Decode turns one raw Segment message into an event. typ, when not empty, is the call
// type given by the endpoint (/v1/track) and overrides the body's type; batchSentAt and
// batchContext come from the batch envelope. index is the batch position, -1 otherwise.
func Decode(raw []byte, typ string, index int, receivedAt time.Time, batchSentAt string, batchContext map[string]any) (*eventv1.Event, error) {
	var ctx *structpb.Struct
	if batchContext != nil {
		if n := len(batchContext); n > MaxProperties {
			return nil, &FieldError{Index: index, Field: "context", Message: fmt.Sprintf("has %d keys, limit %d", n, MaxProperties)}
		}
		if d := depth(batchContext); d > MaxDepth {
			return nil, &FieldError{Index: index, Field: "context", Message: fmt.Sprintf("nests %d levels deep, limit %d", d, MaxDepth)}
		}
		var err error
		if ctx, err = structpb.NewStruct(batchContext); err != nil {
			return nil, &FieldError{Index: index, Field: "context", Message: err.Error()}
		}
	}
	return decode(raw, typ, index, receivedAt, batchSentAt, ctx)
}

// decode is Decode with the batch context already decoded; events without a context of
// their own share ctx.
func decode(raw []byte, typ string, index int, receivedAt time.Time, batchSentAt string, batchContext *structpb.Struct) (*eventv1.Event, error) {
	ferr := func(field, format string, args ...any) error {
		return &FieldError{Index: index, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if len(raw) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, ferr("", "message is %d bytes, limit %d", len(raw), MaxMessageBytes))
	}
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, ferr("body", "malformed JSON: a message must be a JSON object")
	}
	var m wireMessage
	w := newWire(raw)
	field, err := w.readMessage(&m)
	w.release()
	switch {
	case errors.Is(err, errSyntax):
		return nil, ferr("body", "%v", err)
	case err != nil:
		return nil, ferr(field, "%v", err)
	}
	if typ == "" {
		typ = m.Type
	}
	if typ == "" {
		return nil, ferr("type", "is required")
	}
	et, ok := ParseType(typ)
	if !ok {
		return nil, ferr("type", "unknown type %q (want track, identify, page, screen, group or alias)", typ)
	}
	if m.idErr != nil {
		return nil, ferr(m.idErrField, "%v, got another JSON kind", m.idErr)
	}
	if m.UserID == "" && m.AnonymousID == "" {
		return nil, ferr("userId", "userId or anonymousId is required")
	}
	name := strings.TrimSpace(m.Event)
	if et == eventv1.EventType_EVENT_TYPE_TRACK && name == "" {
		return nil, ferr("event", "is required for track calls")
	}
	if et == eventv1.EventType_EVENT_TYPE_ALIAS && m.PreviousID == "" {
		return nil, ferr("previousId", "is required for alias calls")
	}
	if et == eventv1.EventType_EVENT_TYPE_GROUP && m.GroupID == "" {
		return nil, ferr("groupId", "is required for group calls")
	}

	original, err := parseTime(m.Timestamp)
	if err != nil {
		return nil, ferr("timestamp", "%v", err)
	}
	if original.IsZero() {
		if original, err = parseTime(m.OriginalTimestamp); err != nil {
			return nil, ferr("originalTimestamp", "%v", err)
		}
	}
	sentAtStr := m.SentAt
	if sentAtStr == "" {
		sentAtStr = batchSentAt
	}
	sentAt, err := parseTime(sentAtStr)
	if err != nil {
		return nil, ferr("sentAt", "%v", err)
	}
	if m.structErr != nil {
		return nil, ferr(m.structErrField, "%v", unshape(m.structErr))
	}
	ts := CorrectSkew(original, sentAt, receivedAt)

	d := &decoded{}
	ev := &d.ev
	ev.EventId = strings.TrimSpace(m.MessageID)
	ev.Type = et
	ev.Event = name
	ev.Name = strings.TrimSpace(m.Name)
	ev.UserId = m.UserID
	ev.AnonymousId = m.AnonymousID
	ev.PreviousId = m.PreviousID
	ev.GroupId = m.GroupID
	ev.Timestamp = stamp(&d.times[0], ts)
	ev.ReceivedAt = stamp(&d.times[1], receivedAt)
	ev.Context = m.Context
	ev.Properties = m.Properties
	ev.Traits = m.Traits
	if ev.EventId == "" {
		// Segment's SDKs always send a messageId; for other senders a content hash keeps
		// retries of the same payload deduplicated.
		sum := sha256.Sum256(raw)
		ev.EventId = "sha256-" + hex.EncodeToString(sum[:16])
	}
	if !original.IsZero() {
		ev.OriginalTimestamp = stamp(&d.times[2], original)
	}
	if !sentAt.IsZero() {
		ev.SentAt = stamp(&d.times[3], sentAt)
	}
	if !m.hasContext {
		ev.Context = batchContext
	}
	return ev, nil
}

// decoded is an event and room for its four timestamps, allocated at once: they live
// and die together, and allocating the timestamps one by one was about a tenth of the
// decoder's allocations.
type decoded struct {
	ev    eventv1.Event
	times [4]timestamppb.Timestamp
}

// stamp sets dst to t and returns it.
func stamp(dst *timestamppb.Timestamp, t time.Time) *timestamppb.Timestamp {
	dst.Seconds, dst.Nanos = t.Unix(), int32(t.Nanosecond())
	return dst
}

// CorrectSkew returns when the event happened by the server's clock: the client's
// timestamp shifted by the client's clock error (sentAt − receivedAt). Without sentAt the
// original timestamp is trusted; without any timestamp the event happened on receipt.
func CorrectSkew(original, sentAt, receivedAt time.Time) time.Time {
	switch {
	case original.IsZero():
		return receivedAt
	case sentAt.IsZero():
		return original
	default:
		return receivedAt.Add(-sentAt.Sub(original))
	}
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999Z0700", "2006-01-02T15:04:05.999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", s)
}

// depth returns how many levels of objects and arrays v nests; a scalar is 0.
func depth(v any) int {
	deepest := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			deepest = max(deepest, depth(e))
		}
	case []any:
		for _, e := range x {
			deepest = max(deepest, depth(e))
		}
	default:
		return 0
	}
	return deepest + 1
}
