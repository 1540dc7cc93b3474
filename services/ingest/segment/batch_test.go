package segment_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/ingest/segment"
)

func TestDecodeBatch(t *testing.T) {
	t.Parallel()
	body := `{"sentAt":"2026-03-01T12:00:00Z","batch":[
		{"type":"track","event":"X","userId":"u1","messageId":"m0"},
		{"type":"purchase","userId":"u1","messageId":"m1"},
		"oops",
		{"type":"identify","anonymousId":"a1"}]}`
	b, decoded, err := segment.DecodeBatch([]byte(body), received)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if got, want := b.SentAt, "2026-03-01T12:00:00Z"; got != want {
		t.Errorf("sentAt: got %q, want %q", got, want)
	}
	if len(decoded) != 4 {
		t.Fatalf("decoded: got %d, want 4", len(decoded))
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
		_, _, err := segment.DecodeBatch([]byte(tt.body), received)
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
