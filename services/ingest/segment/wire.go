package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"google.golang.org/protobuf/types/known/structpb"
)

// The wire decoder reads Segment JSON in one pass with a streaming tokenizer
// (jsontext, the tokenizer of encoding/json/v2; github.com/go-json-experiment/json is its
// mirror until v2 leaves GOEXPERIMENT) and builds the protobuf values directly: no
// map[string]any in between, no second walk to convert numbers or measure depth. It
// accepts what encoding/json v1 accepted: duplicate names (the last wins) and invalid
// UTF-8 (replaced by U+FFFD, which protobuf strings require).

// decodeOptions are the tokenizer options: v1's leniency, see above.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// wire is a pooled tokenizer over a byte slice; the bytes.Buffer lets jsontext parse the
// slice in place instead of copying it.
type wire struct {
	buf bytes.Buffer
	dec *jsontext.Decoder
}

var wires = sync.Pool{New: func() any {
	w := &wire{}
	w.dec = jsontext.NewDecoder(&w.buf, decodeOptions...)
	return w
}}

func newWire(raw []byte) *wire {
	w := wires.Get().(*wire)
	w.buf = *bytes.NewBuffer(raw)
	w.dec.Reset(&w.buf, decodeOptions...)
	return w
}

func (w *wire) release() {
	w.buf = bytes.Buffer{}
	w.dec.Reset(&w.buf, decodeOptions...)
	wires.Put(w)
}

// errSyntax marks errors of the JSON text itself (as opposed to a value of the wrong
// kind): callers report them on the field "body".
var errSyntax = errors.New("malformed JSON")

func syntax(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", errSyntax, err)
}

// kindError is a value of the wrong JSON kind for its field.
type kindError struct{ want string }

func (e *kindError) Error() string { return "must be " + e.want }

// wireMessage is the wire form of one Segment call, as far as Decode reads it.
type wireMessage struct {
	Type, Event, Name, MessageID             string
	UserID, AnonymousID, PreviousID, GroupID string
	Timestamp, OriginalTimestamp, SentAt     string
	Context, Properties, Traits              *structpb.Struct
	hasContext                               bool
	idErr                                    error // the first id field of the wrong kind
	idErrField                               string
	structErr                                error // the first free-form field of the wrong kind or over a limit
	structErrField                           string
}

// readMessage reads one message object. Errors are a syntax error (errSyntax) or a
// *FieldError-ready pair (field, err) for a value of the wrong kind.
func (w *wire) readMessage(m *wireMessage) (field string, err error) {
	d := w.dec
	tok, err := d.ReadToken()
	if err != nil {
		return "", syntax(err)
	}
	if tok.Kind() != '{' {
		return "", fmt.Errorf("%w: a message must be a JSON object", errSyntax)
	}
	for {
		if d.PeekKind() == '}' {
			if _, err := d.ReadToken(); err != nil {
				return "", syntax(err)
			}
			break
		}
		name, err := d.ReadToken()
		if err != nil {
			return "", syntax(err)
		}
		key := messageKey(name)
		var dst *string
		switch key {
		case "type":
			dst = &m.Type
		case "event":
			dst = &m.Event
		case "name":
			dst = &m.Name
		case "messageId":
			dst = &m.MessageID
		case "timestamp":
			dst = &m.Timestamp
		case "originalTimestamp":
			dst = &m.OriginalTimestamp
		case "sentAt":
			dst = &m.SentAt
		case "userId", "anonymousId", "previousId", "groupId":
			id, err := w.readID()
			if err != nil {
				var ke *kindError
				if !errors.As(err, &ke) {
					return "", err
				}
				if m.idErr == nil {
					m.idErr, m.idErrField = err, key
				}
				continue
			}
			switch key {
			case "userId":
				m.UserID = id
			case "anonymousId":
				m.AnonymousID = id
			case "previousId":
				m.PreviousID = id
			default:
				m.GroupID = id
			}
			continue
		case "context", "properties", "traits":
			s, err := w.readStruct()
			if err != nil {
				var ke *kindError
				if errors.As(err, &ke) || errors.Is(err, errShape) {
					if m.structErr == nil {
						m.structErr, m.structErrField = err, key
					}
					continue
				}
				return "", err
			}
			switch key {
			case "context":
				m.Context, m.hasContext = s, s != nil
			case "properties":
				m.Properties = s
			default:
				m.Traits = s
			}
			continue
		default:
			if err := d.SkipValue(); err != nil {
				return "", syntax(err)
			}
			continue
		}
		s, err := w.readString()
		if err != nil {
			var ke *kindError
			if errors.As(err, &ke) {
				return key, err
			}
			return "", err
		}
		*dst = s
	}
	if err := w.readEOF(); err != nil {
		return "", err
	}
	return "", nil
}

// messageKeys are the names readMessage reads.
var messageKeys = []string{"type", "event", "name", "messageId", "timestamp", "originalTimestamp", "sentAt",
	"userId", "anonymousId", "previousId", "groupId", "context", "properties", "traits"}

// messageKey returns the name of messageKeys that name matches, case-insensitively as
// encoding/json matches struct fields ("userID" is "userId"), or name itself. The exact
// names are matched without allocating.
func messageKey(name jsontext.Token) string {
	switch name.String() {
	case "type":
		return "type"
	case "event":
		return "event"
	case "name":
		return "name"
	case "messageId":
		return "messageId"
	case "timestamp":
		return "timestamp"
	case "userId":
		return "userId"
	case "anonymousId":
		return "anonymousId"
	case "context":
		return "context"
	case "properties":
		return "properties"
	case "traits":
		return "traits"
	}
	return foldKey(name.String(), messageKeys)
}

func foldKey(key string, names []string) string {
	for _, n := range names {
		if key == n {
			return n
		}
	}
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return n
		}
	}
	return key
}

// readEOF fails unless nothing but white space is left.
func (w *wire) readEOF() error {
	if _, err := w.dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err == nil {
			return fmt.Errorf("%w: data after the top-level object", errSyntax)
		}
		return syntax(err)
	}
	return nil
}

// readString reads a string or null ("").
func (w *wire) readString() (string, error) {
	tok, err := w.dec.ReadToken()
	if err != nil {
		return "", syntax(err)
	}
	switch tok.Kind() {
	case '"':
		return tok.String(), nil
	case 'n':
		return "", nil
	}
	return "", w.wrongKind(tok.Kind(), "a string")
}

// readID reads an id: a string (trimmed) or a number (its literal), as Segment accepts.
func (w *wire) readID() (string, error) {
	tok, err := w.dec.ReadToken()
	if err != nil {
		return "", syntax(err)
	}
	switch tok.Kind() {
	case '"':
		return strings.TrimSpace(tok.String()), nil
	case '0':
		return tok.String(), nil
	case 'n':
		return "", nil
	}
	return "", w.wrongKind(tok.Kind(), "a string or a number")
}

// wrongKind skips the rest of a value of the wrong kind whose first token was read, and
// returns the *kindError (or a syntax error met while skipping).
func (w *wire) wrongKind(k jsontext.Kind, want string) error {
	if k == '{' || k == '[' {
		if err := w.skipRest(); err != nil {
			return err
		}
	}
	return &kindError{want: want}
}

// skipRest skips the rest of the object or array whose opening token was just read.
func (w *wire) skipRest() error {
	for depth := 1; depth > 0; {
		tok, err := w.dec.ReadToken()
		if err != nil {
			return syntax(err)
		}
		switch tok.Kind() {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return nil
}

// errShape is wrapped by errors about a free-form object over MaxProperties or MaxDepth.
var errShape = errors.New("shape limit")

// readStruct reads an object (or null: nil) into a Struct, enforcing MaxProperties on
// its keys and MaxDepth on its nesting. A value of another kind is a *kindError.
func (w *wire) readStruct() (*structpb.Struct, error) {
	outer := w.dec.StackDepth()
	tok, err := w.dec.ReadToken()
	if err != nil {
		return nil, syntax(err)
	}
	switch tok.Kind() {
	case '{':
	case 'n':
		return nil, nil
	default:
		return nil, w.wrongKind(tok.Kind(), "an object")
	}
	s, err := w.readObject(1)
	if errors.Is(err, errShape) {
		// Skip what is left of the object so that the caller can read on.
		for w.dec.StackDepth() > outer {
			if _, serr := w.dec.ReadToken(); serr != nil {
				return nil, syntax(serr)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if n := len(s.Fields); n > MaxProperties {
		return nil, fmt.Errorf("%w: has %d keys, limit %d", errShape, n, MaxProperties)
	}
	return s, nil
}

// readObject reads the members of an object whose '{' was read; level is its nesting
// (1 for the top-level object).
func (w *wire) readObject(level int) (*structpb.Struct, error) {
	if level > MaxDepth {
		return nil, fmt.Errorf("%w: nests deeper than %d levels", errShape, MaxDepth)
	}
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for {
		tok, err := w.dec.ReadToken()
		if err != nil {
			return nil, syntax(err)
		}
		if tok.Kind() == '}' {
			return s, nil
		}
		key := tok.String()
		v, err := w.readValue(level)
		if err != nil {
			return nil, err
		}
		s.Fields[key] = v
	}
}

// readValue reads any value inside a container at level.
func (w *wire) readValue(level int) (*structpb.Value, error) {
	tok, err := w.dec.ReadToken()
	if err != nil {
		return nil, syntax(err)
	}
	switch tok.Kind() {
	case 'n':
		return structpb.NewNullValue(), nil
	case 't':
		return structpb.NewBoolValue(true), nil
	case 'f':
		return structpb.NewBoolValue(false), nil
	case '"':
		return structpb.NewStringValue(tok.String()), nil
	case '0':
		lit := tok.String()
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			// Out of float64's range: keep the number as written rather than ±Inf.
			return structpb.NewStringValue(lit), nil
		}
		return structpb.NewNumberValue(f), nil
	case '{':
		s, err := w.readObject(level + 1)
		if err != nil {
			return nil, err
		}
		return structpb.NewStructValue(s), nil
	case '[':
		if level+1 > MaxDepth {
			return nil, fmt.Errorf("%w: nests deeper than %d levels", errShape, MaxDepth)
		}
		l := &structpb.ListValue{}
		for w.dec.PeekKind() != ']' {
			v, err := w.readValue(level + 1)
			if err != nil {
				return nil, err
			}
			l.Values = append(l.Values, v)
		}
		if _, err := w.dec.ReadToken(); err != nil {
			return nil, syntax(err)
		}
		return structpb.NewListValue(l), nil
	}
	return nil, syntax(fmt.Errorf("unexpected %v", tok.Kind()))
}
