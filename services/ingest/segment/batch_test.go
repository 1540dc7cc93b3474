package segment_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/services/ingest/segment"
)

func TestDecodeBatch(t *testing.T) {
	t.Parallel()
	body := `{"sentAt":"2026-03-01T12:00:00Z","batch":[
		{"type":"track","event":"X","userId":"u1","messageId":"m0"},
		{"type":"purchase","userId":"u1","messageId":"m1"},
		"oops",
		{"type":"identify","anonymousId":"a1"}]}`
	decoded, err := segment.DecodeBatch([]byte(body), received)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if len(decoded) != 4 {
		t.Fatalf("decoded: got %d, want 4", len(decoded))
	}
	if got, want := decoded[0].Event.GetSentAt().AsTime(), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("sentAt from the envelope: got %v, want %v", got, want)
	}
	wantOK := []bool{true, false, false, true}
	wantID := []string{"m0", "m1", "", ""}
	for i, d := range decoded {
		if (d.Err == nil) != wantOK[i] || d.Index != i {
			t.Errorf("message %d: got index %d error %v, want ok %v", i, d.Index, d.Err, wantOK[i])
		}
		if wantID[i] != "" && d.MessageID != wantID[i] {
			t.Errorf("message %d messageId: got %q, want %q", i, d.MessageID, wantID[i])
		}
	}
	var fe *segment.FieldError
	if !errors.As(decoded[1].Err, &fe) || fe.Index != 1 || fe.Field != "type" {
		t.Errorf("message 1 error: got %v, want batch[1].type", decoded[1].Err)
	}
}

func TestDecodeBatchEnvelopeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantField string
		tooLarge              bool
	}{
		{"malformed", `{"batch":[`, "body", false},
		{"empty", `{"batch":[]}`, "batch", false},
		{"missing", `{"writeKey":"k"}`, "batch", false},
		{"too large", `{"batch":["` + strings.Repeat("x", segment.MaxBatchBytes) + `"]}`, "", true},
	}
	for _, tt := range tests {
		_, err := segment.DecodeBatch([]byte(tt.body), received)
		if tt.tooLarge {
			if !errors.Is(err, segment.ErrTooLarge) {
				t.Errorf("%s: got %v, want ErrTooLarge", tt.name, err)
			}
			continue
		}
		var fe *segment.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.wantField {
			t.Errorf("%s: got %v, want a FieldError on %q", tt.name, err, tt.wantField)
		}
	}
}

func TestDecodeShapeLimits(t *testing.T) {
	t.Parallel()
	wide := make([]string, segment.MaxProperties+1)
	for i := range wide {
		wide[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	deep := strings.Repeat(`{"a":`, segment.MaxDepth+1) + "1" + strings.Repeat("}", segment.MaxDepth+1)
	okDeep := strings.Repeat(`{"a":`, segment.MaxDepth) + "1" + strings.Repeat("}", segment.MaxDepth)
	tests := []struct {
		name, body, wantField string
	}{
		{"too many properties", `{"type":"track","event":"X","userId":"u1","properties":{` + strings.Join(wide, ",") + `}}`, "properties"},
		{"too many traits", `{"type":"identify","userId":"u1","traits":{` + strings.Join(wide, ",") + `}}`, "traits"},
		{"too deep", `{"type":"track","event":"X","userId":"u1","properties":` + deep + `}`, "properties"},
		{"at the depth limit", `{"type":"track","event":"X","userId":"u1","properties":` + okDeep + `}`, ""},
		{"at the property limit", `{"type":"track","event":"X","userId":"u1","properties":{` + strings.Join(wide[1:], ",") + `}}`, ""},
		{"trailing data", `{"type":"track","event":"X","userId":"u1"} {}`, "body"},
		{"null message", `null`, "body"},
	}
	for _, tt := range tests {
		_, err := segment.Decode([]byte(tt.body), "", -1, received, "", nil)
		if tt.wantField == "" {
			if err != nil {
				t.Errorf("%s: got %v, want nil", tt.name, err)
			}
			continue
		}
		var fe *segment.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.wantField {
			t.Errorf("%s: got %v, want a FieldError on %q", tt.name, err, tt.wantField)
		}
	}
}

// TestDecodeBatchEnvelopeAfterMessages: analytics-go writes the envelope's sentAt and
// context after the batch array; they still apply to every message.
func TestDecodeBatchEnvelopeAfterMessages(t *testing.T) {
	t.Parallel()
	body := `{"batch":[
		{"type":"track","event":"X","userId":"u1","timestamp":"2026-03-01T11:59:00Z"},
		{"type":"track","event":"Y","userId":"u1","context":{"ip":"10.0.0.1"}}],
		"context":{"library":{"name":"analytics-go"}},"sentAt":"2026-03-01T12:00:00Z"}`
	decoded, err := segment.DecodeBatch([]byte(body), received)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	first, second := decoded[0].Event, decoded[1].Event
	if got, want := first.GetContext().GetFields()["library"].GetStructValue().GetFields()["name"].GetStringValue(), "analytics-go"; got != want {
		t.Errorf("context of a message without one: got library %q, want %q", got, want)
	}
	if got, want := second.GetContext().GetFields()["ip"].GetStringValue(), "10.0.0.1"; got != want || second.GetContext().GetFields()["library"] != nil {
		t.Errorf("context of a message with its own: got %v, want only ip %q", second.GetContext(), want)
	}
	// sentAt 12:00:00 and received 12:00:00: no skew, the timestamp is kept.
	if got, want := first.GetTimestamp().AsTime(), time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("timestamp: got %v, want %v", got, want)
	}
}

func TestDecodeBatchEnvelopeFieldErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, wantField string }{
		{`{"batch":{"type":"track"}}`, "batch"},
		{`{"batch":[{}],"sentAt":12}`, "sentAt"},
		{`{"batch":[{}],"context":"web"}`, "context"},
		{`{"batch":[{}]} trailing`, "body"},
		{`[{"type":"track"}]`, "body"},
		{`null`, "batch"},
	}
	for _, tt := range tests {
		_, err := segment.DecodeBatch([]byte(tt.body), received)
		var fe *segment.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.wantField || fe.Index != -1 {
			t.Errorf("DecodeBatch(%s): got %v, want a FieldError on %q", tt.body, err, tt.wantField)
		}
	}
}
