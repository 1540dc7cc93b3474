package segment_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stratahq/strata/services/ingest/segment"
)

// FuzzDecode checks that no message makes the decoder panic, and that what it accepts
// holds what the Segment spec requires. Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"track","event":"Lesson Completed","userId":"u1","messageId":"m1","properties":{"minutes":12}}`), "")
	f.Add([]byte(`{"anonymousId":"a1","traits":{"x":[1,{"y":null}]}}`), "identify")
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte, typ string) {
		ev, err := segment.Decode(raw, typ, -1, received, "2026-03-01T12:00:01Z", map[string]any{"library": "fuzz"})
		if err != nil {
			var fe *segment.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if ev != nil {
				t.Fatalf("event %v returned with error %v", ev, err)
			}
			return
		}
		if ev.GetEventId() == "" {
			t.Fatalf("accepted event without an id: %v", ev)
		}
		if ev.GetUserId() == "" && ev.GetAnonymousId() == "" {
			t.Fatalf("accepted event without an identity: %v", ev)
		}
		if ev.GetTimestamp() == nil || ev.GetReceivedAt() == nil {
			t.Fatalf("accepted event without timestamps: %v", ev)
		}
		if len(ev.GetProperties().GetFields()) > segment.MaxProperties || len(ev.GetTraits().GetFields()) > segment.MaxProperties {
			t.Fatalf("accepted event over the property limit")
		}
	})
}

// FuzzDecodeBatch checks that no batch body makes the decoder panic and that it judges
// every message: as many as encoding/json finds in the batch array. Seeds are in
// testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"batch":[{"type":"track","event":"X","userId":"u1"},{"type":"purchase"}],"sentAt":"2026-03-01T12:00:00Z"}`))
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		decoded, err := segment.DecodeBatch(body, received)
		if err != nil {
			var fe *segment.FieldError
			if !errors.As(err, &fe) && !errors.Is(err, segment.ErrTooLarge) {
				t.Fatalf("error %v (%T) is neither a *FieldError nor ErrTooLarge", err, err)
			}
			return
		}
		var b struct {
			Batch []json.RawMessage `json:"batch"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("DecodeBatch accepted a body encoding/json refuses: %v", err)
		}
		if len(decoded) != len(b.Batch) {
			t.Fatalf("decoded %d messages of %d", len(decoded), len(b.Batch))
		}
		for i, d := range decoded {
			if d.Index != i || (d.Err == nil) == (d.Event == nil) {
				t.Fatalf("message %d: index %d, event %v, error %v", i, d.Index, d.Event, d.Err)
			}
		}
	})
}
