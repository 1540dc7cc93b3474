package segment

import (
	"encoding/json"
	"strings"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// Decoded is one message of a batch after decoding: its event, or why it was refused.
type Decoded struct {
	// Index is the message's position in the batch.
	Index int
	// MessageID is the messageId as sent, when it could be read; it helps a client find
	// a refused message.
	MessageID string
	// Event is the decoded event; nil when Err is set.
	Event *eventv1.Event
	// Err is a *FieldError (wrapping ErrTooLarge for an oversized message).
	Err error
}

// DecodeBatch decodes the body of POST /v1/batch. It returns a *FieldError naming "body"
// or "batch" when the envelope itself is unusable; otherwise one Decoded per message, in
// order. Messages are judged one by one so that a client learns every message that is
// wrong, not only the first.
func DecodeBatch(body []byte, receivedAt time.Time) (Batch, []Decoded, error) {
	var b Batch
	if len(body) > MaxBatchBytes {
		return b, nil, tooLarge(len(body), MaxBatchBytes)
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return b, nil, &FieldError{Index: -1, Field: "body", Message: "malformed JSON: " + err.Error()}
	}
	if len(b.Batch) == 0 {
		return b, nil, &FieldError{Index: -1, Field: "batch", Message: "must hold at least one message"}
	}
	out := make([]Decoded, len(b.Batch))
	for i, raw := range b.Batch {
		ev, err := Decode(raw, "", i, receivedAt, b.SentAt, b.Context)
		out[i] = Decoded{Index: i, Event: ev, Err: err}
		if err != nil {
			out[i].MessageID = peekMessageID(raw)
		} else {
			out[i].MessageID = ev.GetEventId()
		}
	}
	return b, out, nil
}

// peekMessageID returns the messageId of a message that did not decode, if it is readable.
func peekMessageID(raw []byte) string {
	if len(raw) > MaxMessageBytes {
		return ""
	}
	var m struct {
		MessageID any `json:"messageId"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	if s, ok := m.MessageID.(string); ok {
		return strings.TrimSpace(s)
	}
	return ""
}
