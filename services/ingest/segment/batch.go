package segment

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

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

// DecodeBatch decodes the body of POST /v1/batch ({"batch":[...],"sentAt":...,
// "context":{...}}). It returns a *FieldError naming "body" (or the envelope field at
// fault: "batch", "sentAt", "context") when the envelope itself is unusable; otherwise
// one Decoded per message, in order. Messages are judged one by one so that a client
// learns every message that is wrong, not only the first.
//
// The events of messages without a context of their own share one Context message, the
// batch's: treat events as read-only there.
func DecodeBatch(body []byte, receivedAt time.Time) ([]Decoded, error) {
	if len(body) > MaxBatchBytes {
		return nil, tooLarge(len(body), MaxBatchBytes)
	}
	w := newWire(body)
	env, err := w.readEnvelope(body)
	w.release()
	if err != nil {
		return nil, err
	}
	if len(env.messages) == 0 {
		return nil, &FieldError{Index: -1, Field: "batch", Message: "must hold at least one message"}
	}
	out := make([]Decoded, len(env.messages))
	for i, raw := range env.messages {
		ev, err := decode(raw, "", i, receivedAt, env.sentAt, env.context)
		out[i] = Decoded{Index: i, Event: ev, Err: err}
		if err != nil {
			out[i].MessageID = peekMessageID(raw)
		} else {
			out[i].MessageID = ev.GetEventId()
		}
	}
	return out, nil
}

// envelope is what DecodeBatch reads of the batch envelope.
type envelope struct {
	// messages are the raw elements of "batch", slices of the body.
	messages [][]byte
	sentAt   string
	context  *structpb.Struct
}

// readEnvelope reads the envelope from w, a wire over body; the elements of "batch" are
// kept as slices of body, located by offset, so they stay valid after the tokenizer moves
// on.
func (w *wire) readEnvelope(body []byte) (envelope, error) {
	var env envelope
	d := w.dec
	envErr := func(field string, err error) error {
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errSyntax):
			return &FieldError{Index: -1, Field: "body", Message: err.Error()}
		default:
			return &FieldError{Index: -1, Field: field, Message: err.Error()}
		}
	}
	tok, err := d.ReadToken()
	if err != nil {
		return env, envErr("body", syntax(err))
	}
	switch tok.Kind() {
	case '{':
	case 'n':
		return env, envErr("body", w.readEOF())
	default:
		return env, envErr("body", fmt.Errorf("%w: the body must be a JSON object", errSyntax))
	}
	for {
		tok, err := d.ReadToken()
		if err != nil {
			return env, envErr("body", syntax(err))
		}
		if tok.Kind() == '}' {
			break
		}
		switch key := foldKey(tok.String(), envelopeKeys); key {
		case "batch":
			env.messages = env.messages[:0]
			tok, err := d.ReadToken()
			if err != nil {
				return env, envErr("body", syntax(err))
			}
			switch tok.Kind() {
			case 'n':
				continue
			case '[':
			default:
				return env, envErr("batch", w.wrongKind(tok.Kind(), "an array"))
			}
			for d.PeekKind() != ']' {
				v, err := d.ReadValue()
				if err != nil {
					return env, envErr("body", syntax(err))
				}
				end := int(d.InputOffset())
				env.messages = append(env.messages, body[end-len(v):end:end])
			}
			if _, err := d.ReadToken(); err != nil {
				return env, envErr("body", syntax(err))
			}
		case "sentAt":
			if env.sentAt, err = w.readString(); err != nil {
				return env, envErr(key, err)
			}
		case "context":
			if env.context, err = w.readStruct(); err != nil {
				return env, envErr(key, unshape(err))
			}
		default:
			if err := d.SkipValue(); err != nil {
				return env, envErr("body", syntax(err))
			}
		}
	}
	return env, envErr("body", w.readEOF())
}

// envelopeKeys are the names readEnvelope reads.
var envelopeKeys = []string{"batch", "sentAt", "context"}

// unshape drops the errShape marker from the message of a shape error.
func unshape(err error) error {
	if errors.Is(err, errShape) {
		return errors.Unwrap(err)
	}
	return err
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
