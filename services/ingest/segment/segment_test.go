package segment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/segment"
)

var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestDecodeCallTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		typ      string // endpoint type; "" means the body's type
		body     string
		wantType eventv1.EventType
		check    func(t *testing.T, ev *eventv1.Event)
	}{
		{
			name:     "track",
			body:     `{"type":"track","event":"Order Completed","userId":"u1","messageId":"m1","properties":{"revenue":12.5,"currency":"CNY"}}`,
			wantType: eventv1.EventType_EVENT_TYPE_TRACK,
			check: func(t *testing.T, ev *eventv1.Event) {
				if got, want := ev.GetEvent(), "Order Completed"; got != want {
					t.Errorf("event: got %q, want %q", got, want)
				}
				if got, want := ev.GetProperties().GetFields()["revenue"].GetNumberValue(), 12.5; got != want {
					t.Errorf("properties.revenue: got %v, want %v", got, want)
				}
				if got, want := ev.GetProperties().GetFields()["currency"].GetStringValue(), "CNY"; got != want {
					t.Errorf("properties.currency: got %q, want %q", got, want)
				}
			},
		},
		{
			name:     "identify",
			body:     `{"type":"identify","userId":"u1","messageId":"m1","traits":{"city_tier":1,"interests":["go","ml"],"vip":true,"nested":{"a":null}}}`,
			wantType: eventv1.EventType_EVENT_TYPE_IDENTIFY,
			check: func(t *testing.T, ev *eventv1.Event) {
				f := ev.GetTraits().GetFields()
				if got, want := f["city_tier"].GetNumberValue(), 1.0; got != want {
					t.Errorf("traits.city_tier: got %v, want %v", got, want)
				}
				if got, want := len(f["interests"].GetListValue().GetValues()), 2; got != want {
					t.Errorf("len(traits.interests): got %v, want %v", got, want)
				}
				if got, want := f["vip"].GetBoolValue(), true; got != want {
					t.Errorf("traits.vip: got %v, want %v", got, want)
				}
				if _, ok := f["nested"].GetStructValue().GetFields()["a"]; !ok {
					t.Errorf("traits.nested.a: got missing, want null value")
				}
			},
		},
		{
			name:     "page",
			body:     `{"type":"page","name":"  Pricing  ","anonymousId":"a1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_PAGE,
			check: func(t *testing.T, ev *eventv1.Event) {
				if got, want := ev.GetName(), "Pricing"; got != want {
					t.Errorf("name: got %q, want %q", got, want)
				}
			},
		},
		{
			name:     "screen",
			body:     `{"type":"screen","name":"Home","userId":"u1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_SCREEN,
			check: func(t *testing.T, ev *eventv1.Event) {
				if got, want := ev.GetName(), "Home"; got != want {
					t.Errorf("name: got %q, want %q", got, want)
				}
			},
		},
		{
			name:     "group",
			body:     `{"type":"group","groupId":"g1","userId":"u1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_GROUP,
			check: func(t *testing.T, ev *eventv1.Event) {
				if got, want := ev.GetGroupId(), "g1"; got != want {
					t.Errorf("group_id: got %q, want %q", got, want)
				}
			},
		},
		{
			name:     "alias",
			body:     `{"type":"alias","previousId":"a1","userId":"u1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_ALIAS,
			check: func(t *testing.T, ev *eventv1.Event) {
				if got, want := ev.GetPreviousId(), "a1"; got != want {
					t.Errorf("previous_id: got %q, want %q", got, want)
				}
			},
		},
		{
			name:     "type is case-insensitive and trimmed",
			body:     `{"type":" Track ","event":"Lesson Started","userId":"u1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_TRACK,
		},
		{
			name:     "endpoint type overrides body type",
			typ:      "track",
			body:     `{"type":"identify","event":"Lesson Started","userId":"u1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_TRACK,
		},
		{
			name:     "endpoint type used when body has none",
			typ:      "identify",
			body:     `{"userId":"u1","messageId":"m1"}`,
			wantType: eventv1.EventType_EVENT_TYPE_IDENTIFY,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := segment.Decode([]byte(tt.body), tt.typ, -1, received, "", nil)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if got, want := ev.GetType(), tt.wantType; got != want {
				t.Errorf("type: got %v, want %v", got, want)
			}
			if got, want := ev.GetEventId(), "m1"; got != want {
				t.Errorf("event_id: got %q, want %q", got, want)
			}
			if got, want := ev.GetReceivedAt().AsTime(), received; !got.Equal(want) {
				t.Errorf("received_at: got %v, want %v", got, want)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

func TestDecodeIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                 string
		body                                 string
		wantUser, wantAnon, wantPrev, wantGr string
	}{
		{name: "strings", body: `{"userId":"u1","anonymousId":"a1"}`, wantUser: "u1", wantAnon: "a1"},
		{name: "integers", body: `{"userId":12345,"anonymousId":678}`, wantUser: "12345", wantAnon: "678"},
		{name: "big integer keeps its digits", body: `{"userId":12345678901234567890}`, wantUser: "12345678901234567890"},
		{name: "trimmed", body: `{"userId":"  u1\t","anonymousId":" a1 "}`, wantUser: "u1", wantAnon: "a1"},
		{name: "null user with anonymous", body: `{"userId":null,"anonymousId":"a1"}`, wantAnon: "a1"},
		{name: "blank user with anonymous", body: `{"userId":"   ","anonymousId":"a1"}`, wantAnon: "a1"},
		{name: "numeric previousId", body: `{"type":"alias","userId":"u1","previousId":42}`, wantUser: "u1", wantPrev: "42"},
		{name: "numeric groupId trimmed string", body: `{"type":"group","userId":"u1","groupId":" 7 "}`, wantUser: "u1", wantGr: "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The body's type, when it has one, is the call type; otherwise identify.
			typ := "identify"
			if strings.Contains(tt.body, `"type"`) {
				typ = ""
			}
			ev, err := segment.Decode([]byte(tt.body), typ, -1, received, "", nil)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			for _, c := range []struct{ field, got, want string }{
				{"user_id", ev.GetUserId(), tt.wantUser},
				{"anonymous_id", ev.GetAnonymousId(), tt.wantAnon},
				{"previous_id", ev.GetPreviousId(), tt.wantPrev},
				{"group_id", ev.GetGroupId(), tt.wantGr},
			} {
				if c.got != c.want {
					t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestDecodeFieldErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		typ       string
		index     int
		body      string
		wantField string
		wantInMsg string
	}{
		{name: "missing userId and anonymousId", typ: "track", index: -1, body: `{"event":"X"}`, wantField: "userId", wantInMsg: "anonymousId"},
		{name: "blank userId and anonymousId", typ: "track", index: -1, body: `{"event":"X","userId":" ","anonymousId":""}`, wantField: "userId"},
		{name: "unknown type", index: -1, body: `{"type":"purchase","userId":"u1"}`, wantField: "type", wantInMsg: `"purchase"`},
		{name: "unknown type in batch", index: 3, body: `{"type":"purchase","userId":"u1"}`, wantField: "type", wantInMsg: "purchase"},
		{name: "missing type", index: -1, body: `{"userId":"u1"}`, wantField: "type"},
		{name: "track without event", typ: "track", index: -1, body: `{"userId":"u1"}`, wantField: "event"},
		{name: "track with blank event", typ: "track", index: -1, body: `{"userId":"u1","event":"  "}`, wantField: "event"},
		{name: "alias without previousId", typ: "alias", index: -1, body: `{"userId":"u1"}`, wantField: "previousId"},
		{name: "group without groupId", typ: "group", index: -1, body: `{"userId":"u1"}`, wantField: "groupId"},
		{name: "malformed JSON", typ: "track", index: -1, body: `{"userId":`, wantField: "body", wantInMsg: "malformed JSON"},
		{name: "not an object", typ: "track", index: -1, body: `["u1"]`, wantField: "body"},
		{name: "userId is an object", typ: "identify", index: -1, body: `{"userId":{"id":1}}`, wantField: "userId"},
		{name: "anonymousId is a bool", typ: "identify", index: -1, body: `{"anonymousId":true}`, wantField: "anonymousId"},
		{name: "bad timestamp", typ: "identify", index: -1, body: `{"userId":"u1","timestamp":"yesterday"}`, wantField: "timestamp", wantInMsg: "ISO 8601"},
		{name: "bad originalTimestamp", typ: "identify", index: -1, body: `{"userId":"u1","originalTimestamp":"12/01/2026"}`, wantField: "originalTimestamp"},
		{name: "bad sentAt", typ: "identify", index: -1, body: `{"userId":"u1","sentAt":"soon"}`, wantField: "sentAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := segment.Decode([]byte(tt.body), tt.typ, tt.index, received, "", nil)
			if ev != nil {
				t.Errorf("event: got %v, want nil", ev)
			}
			var fe *segment.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error: got %v (%T), want *segment.FieldError", err, err)
			}
			if got, want := fe.Field, tt.wantField; got != want {
				t.Errorf("field: got %q, want %q", got, want)
			}
			if got, want := fe.Index, tt.index; got != want {
				t.Errorf("index: got %d, want %d", got, want)
			}
			if !strings.Contains(fe.Message, tt.wantInMsg) {
				t.Errorf("message: got %q, want it to contain %q", fe.Message, tt.wantInMsg)
			}
			if errors.Is(err, segment.ErrTooLarge) {
				t.Errorf("errors.Is(err, ErrTooLarge): got true, want false")
			}
		})
	}
}

func TestFieldErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *segment.FieldError
		want string
	}{
		{&segment.FieldError{Index: -1, Field: "userId", Message: "is required"}, "userId: is required"},
		{&segment.FieldError{Index: 2, Field: "type", Message: "unknown"}, "batch[2].type: unknown"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestDecodeTooLarge(t *testing.T) {
	t.Parallel()
	pad := strings.Repeat("x", segment.MaxMessageBytes)
	body := `{"type":"track","event":"X","userId":"u1","properties":{"pad":"` + pad + `"}}`
	ev, err := segment.Decode([]byte(body), "", -1, received, "", nil)
	if !errors.Is(err, segment.ErrTooLarge) {
		t.Fatalf("error: got %v, want ErrTooLarge", err)
	}
	if ev != nil {
		t.Errorf("event: got %v, want nil", ev)
	}

	// Exactly at the limit is accepted.
	base := `{"type":"track","event":"X","userId":"u1","properties":{"pad":""}}`
	atLimit := strings.Replace(base, `""`, `"`+strings.Repeat("x", segment.MaxMessageBytes-len(base))+`"`, 1)
	if got, want := len(atLimit), segment.MaxMessageBytes; got != want {
		t.Fatalf("test body: got %d bytes, want %d", got, want)
	}
	if _, err := segment.Decode([]byte(atLimit), "", -1, received, "", nil); err != nil {
		t.Errorf("Decode at the limit: got %v, want nil", err)
	}
}

func TestDecodeTimestamps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		body         string
		batchSentAt  string
		wantTS       time.Time
		wantOriginal time.Time // zero: no original_timestamp
		wantSentAt   time.Time // zero: no sent_at
	}{
		{
			name:   "no timestamps: received",
			body:   `{"userId":"u1"}`,
			wantTS: received,
		},
		{
			name:         "timestamp without sentAt is trusted",
			body:         `{"userId":"u1","timestamp":"2026-03-01T10:00:00Z"}`,
			wantTS:       time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
			wantOriginal: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		},
		{
			name:         "client clock 1h ahead corrected",
			body:         `{"userId":"u1","timestamp":"2026-03-01T12:59:55Z","sentAt":"2026-03-01T13:00:00Z"}`,
			wantTS:       received.Add(-5 * time.Second),
			wantOriginal: time.Date(2026, 3, 1, 12, 59, 55, 0, time.UTC),
			wantSentAt:   time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
		},
		{
			name:         "originalTimestamp used when timestamp absent",
			body:         `{"userId":"u1","originalTimestamp":"2026-03-01T11:00:00Z","sentAt":"2026-03-01T11:00:10Z"}`,
			wantTS:       received.Add(-10 * time.Second),
			wantOriginal: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
			wantSentAt:   time.Date(2026, 3, 1, 11, 0, 10, 0, time.UTC),
		},
		{
			name:         "batch sentAt used when message has none",
			body:         `{"userId":"u1","timestamp":"2026-03-01T11:59:00Z"}`,
			batchSentAt:  "2026-03-01T12:00:00Z",
			wantTS:       received.Add(-time.Minute),
			wantOriginal: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC),
			wantSentAt:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		},
		{
			name:         "message sentAt wins over batch sentAt",
			body:         `{"userId":"u1","timestamp":"2026-03-01T11:59:00Z","sentAt":"2026-03-01T11:59:30Z"}`,
			batchSentAt:  "2026-03-01T12:00:00Z",
			wantTS:       received.Add(-30 * time.Second),
			wantOriginal: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC),
			wantSentAt:   time.Date(2026, 3, 1, 11, 59, 30, 0, time.UTC),
		},
		{
			name:         "zone offset and fraction normalised to UTC",
			body:         `{"userId":"u1","timestamp":"2026-03-01T18:30:00.250+08:00"}`,
			wantTS:       time.Date(2026, 3, 1, 10, 30, 0, 250e6, time.UTC),
			wantOriginal: time.Date(2026, 3, 1, 10, 30, 0, 250e6, time.UTC),
		},
		{
			name:         "offset without colon",
			body:         `{"userId":"u1","timestamp":"2026-03-01T18:30:00.5+0800"}`,
			wantTS:       time.Date(2026, 3, 1, 10, 30, 0, 500e6, time.UTC),
			wantOriginal: time.Date(2026, 3, 1, 10, 30, 0, 500e6, time.UTC),
		},
		{
			name:         "no zone read as UTC",
			body:         `{"userId":"u1","timestamp":"2026-03-01T10:30:00"}`,
			wantTS:       time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC),
			wantOriginal: time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := segment.Decode([]byte(tt.body), "identify", -1, received, tt.batchSentAt, nil)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if got := ev.GetTimestamp().AsTime(); !got.Equal(tt.wantTS) {
				t.Errorf("timestamp: got %v, want %v", got, tt.wantTS)
			}
			if tt.wantOriginal.IsZero() {
				if ev.GetOriginalTimestamp() != nil {
					t.Errorf("original_timestamp: got %v, want nil", ev.GetOriginalTimestamp().AsTime())
				}
			} else if got := ev.GetOriginalTimestamp().AsTime(); !got.Equal(tt.wantOriginal) {
				t.Errorf("original_timestamp: got %v, want %v", got, tt.wantOriginal)
			}
			if tt.wantSentAt.IsZero() {
				if ev.GetSentAt() != nil {
					t.Errorf("sent_at: got %v, want nil", ev.GetSentAt().AsTime())
				}
			} else if got := ev.GetSentAt().AsTime(); !got.Equal(tt.wantSentAt) {
				t.Errorf("sent_at: got %v, want %v", got, tt.wantSentAt)
			}
		})
	}
}

func TestDecodeMessageIDFallback(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"track","event":"X","userId":"u1"}`)
	first, err := segment.Decode(body, "", -1, received, "", nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !strings.HasPrefix(first.GetEventId(), "sha256-") {
		t.Fatalf("event_id: got %q, want prefix %q", first.GetEventId(), "sha256-")
	}
	if got, want := len(first.GetEventId()), len("sha256-")+32; got != want {
		t.Errorf("len(event_id): got %d, want %d", got, want)
	}
	// A retry of the same bytes, received later and at another batch position, keeps its id.
	again, err := segment.Decode(append([]byte(nil), body...), "", 4, received.Add(time.Hour), "", nil)
	if err != nil {
		t.Fatalf("Decode again: %v", err)
	}
	if got, want := again.GetEventId(), first.GetEventId(); got != want {
		t.Errorf("event_id of the same bytes: got %q, want %q", got, want)
	}
	other, err := segment.Decode([]byte(`{"type":"track","event":"Y","userId":"u1"}`), "", -1, received, "", nil)
	if err != nil {
		t.Fatalf("Decode other: %v", err)
	}
	if other.GetEventId() == first.GetEventId() {
		t.Errorf("event_id of different bytes: got %q for both, want different ids", other.GetEventId())
	}
	blank, err := segment.Decode([]byte(`{"type":"track","event":"X","userId":"u1","messageId":"  "}`), "", -1, received, "", nil)
	if err != nil {
		t.Fatalf("Decode blank messageId: %v", err)
	}
	if !strings.HasPrefix(blank.GetEventId(), "sha256-") {
		t.Errorf("event_id for blank messageId: got %q, want prefix %q", blank.GetEventId(), "sha256-")
	}
	given, err := segment.Decode([]byte(`{"type":"track","event":"X","userId":"u1","messageId":" ajs-1 "}`), "", -1, received, "", nil)
	if err != nil {
		t.Fatalf("Decode given messageId: %v", err)
	}
	if got, want := given.GetEventId(), "ajs-1"; got != want {
		t.Errorf("event_id: got %q, want %q", got, want)
	}
}

func TestDecodeBatchContext(t *testing.T) {
	t.Parallel()
	batchCtx := map[string]any{"library": map[string]any{"name": "analytics-go"}, "ip": "10.0.0.1"}
	tests := []struct {
		name    string
		body    string
		wantLib string
		wantIP  string
	}{
		{name: "batch context used when message has none", body: `{"userId":"u1"}`, wantLib: "analytics-go", wantIP: "10.0.0.1"},
		{name: "message context wins", body: `{"userId":"u1","context":{"library":{"name":"analytics.js"}}}`, wantLib: "analytics.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := segment.Decode([]byte(tt.body), "identify", 0, received, "", batchCtx)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			f := ev.GetContext().GetFields()
			if got := f["library"].GetStructValue().GetFields()["name"].GetStringValue(); got != tt.wantLib {
				t.Errorf("context.library.name: got %q, want %q", got, tt.wantLib)
			}
			if got := f["ip"].GetStringValue(); got != tt.wantIP {
				t.Errorf("context.ip: got %q, want %q", got, tt.wantIP)
			}
		})
	}

	ev, err := segment.Decode([]byte(`{"userId":"u1"}`), "identify", -1, received, "", nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if ev.GetContext() != nil || ev.GetProperties() != nil || ev.GetTraits() != nil {
		t.Errorf("context/properties/traits: got %v/%v/%v, want all nil", ev.GetContext(), ev.GetProperties(), ev.GetTraits())
	}
}

func TestParseType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   eventv1.EventType
		wantOK bool
	}{
		{"track", eventv1.EventType_EVENT_TYPE_TRACK, true},
		{"IDENTIFY", eventv1.EventType_EVENT_TYPE_IDENTIFY, true},
		{" page ", eventv1.EventType_EVENT_TYPE_PAGE, true},
		{"screen", eventv1.EventType_EVENT_TYPE_SCREEN, true},
		{"group", eventv1.EventType_EVENT_TYPE_GROUP, true},
		{"alias", eventv1.EventType_EVENT_TYPE_ALIAS, true},
		{"batch", eventv1.EventType_EVENT_TYPE_UNSPECIFIED, false},
		{"", eventv1.EventType_EVENT_TYPE_UNSPECIFIED, false},
	}
	for _, tt := range tests {
		got, ok := segment.ParseType(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseType(%q): got %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCorrectSkew(t *testing.T) {
	t.Parallel()
	recv := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                     string
		original, sentAt, wantTS time.Time
	}{
		{
			name:     "client clock ahead",
			original: recv.Add(time.Hour - 3*time.Second),
			sentAt:   recv.Add(time.Hour),
			wantTS:   recv.Add(-3 * time.Second),
		},
		{
			name:     "client clock behind",
			original: recv.Add(-2*time.Hour - 10*time.Second),
			sentAt:   recv.Add(-2 * time.Hour),
			wantTS:   recv.Add(-10 * time.Second),
		},
		{
			name:     "clocks agree",
			original: recv.Add(-time.Minute),
			sentAt:   recv,
			wantTS:   recv.Add(-time.Minute),
		},
		{
			name:     "no sentAt trusts the original",
			original: recv.Add(-24 * time.Hour),
			wantTS:   recv.Add(-24 * time.Hour),
		},
		{
			name:   "no timestamp is the receipt",
			sentAt: recv.Add(time.Hour),
			wantTS: recv,
		},
		{
			name:   "nothing at all",
			wantTS: recv,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := segment.CorrectSkew(tt.original, tt.sentAt, recv); !got.Equal(tt.wantTS) {
				t.Errorf("got %v, want %v", got, tt.wantTS)
			}
		})
	}
}

// TestDecodeLikeEncodingJSON pins what the decoder accepts as encoding/json did before it:
// names matched case-insensitively, the last of duplicate names, invalid UTF-8 replaced,
// numbers beyond float64 kept as written.
func TestDecodeLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, ev *eventv1.Event)
	}{
		{
			name: "case-insensitive names",
			body: `{"TYPE":"identify","UserID":"u1","MessageId":"m1"}`,
			check: func(t *testing.T, ev *eventv1.Event) {
				if ev.GetType() != eventv1.EventType_EVENT_TYPE_IDENTIFY || ev.GetUserId() != "u1" || ev.GetEventId() != "m1" {
					t.Errorf("got %v, want identify u1 m1", ev)
				}
			},
		},
		{
			name: "duplicate names: the last wins",
			body: `{"type":"track","event":"A","event":"B","userId":"u1","properties":{"k":1,"k":2}}`,
			check: func(t *testing.T, ev *eventv1.Event) {
				if got := ev.GetEvent(); got != "B" {
					t.Errorf("event: got %q, want %q", got, "B")
				}
				if got := ev.GetProperties().GetFields()["k"].GetNumberValue(); got != 2 {
					t.Errorf("properties.k: got %v, want 2", got)
				}
			},
		},
		{
			name: "invalid UTF-8 replaced",
			body: "{\"type\":\"track\",\"event\":\"A\xff\",\"userId\":\"u1\",\"properties\":{\"k\xfe\":\"v\xc3\"}}",
			check: func(t *testing.T, ev *eventv1.Event) {
				if got, want := ev.GetEvent(), "A\uFFFD"; got != want {
					t.Errorf("event: got %q, want %q", got, want)
				}
				if got, want := ev.GetProperties().GetFields()["k\uFFFD"].GetStringValue(), "v\uFFFD"; got != want {
					t.Errorf("properties: got %q, want %q", got, want)
				}
			},
		},
		{
			name: "numbers",
			body: `{"type":"track","event":"A","userId":42,"properties":{"big":1e400,"neg":-0.5,"list":[1,"x",null,true,{"a":false}]}}`,
			check: func(t *testing.T, ev *eventv1.Event) {
				f := ev.GetProperties().GetFields()
				if got, want := ev.GetUserId(), "42"; got != want {
					t.Errorf("userId: got %q, want %q", got, want)
				}
				if got, want := f["big"].GetStringValue(), "1e400"; got != want {
					t.Errorf("properties.big: got %q, want %q", got, want)
				}
				if got, want := f["neg"].GetNumberValue(), -0.5; got != want {
					t.Errorf("properties.neg: got %v, want %v", got, want)
				}
				if got, want := len(f["list"].GetListValue().GetValues()), 5; got != want {
					t.Errorf("len(properties.list): got %d, want %d", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := segment.Decode([]byte(tt.body), "", -1, received, "", nil)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, ev)
		})
	}
}

func TestDecodeWrongKindNamesTheField(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, wantField string }{
		{`{"type":"track","event":5,"userId":"u1"}`, "event"},
		{`{"type":"track","event":"X","userId":"u1","messageId":["m"]}`, "messageId"},
		{`{"type":"track","event":"X","userId":"u1","properties":[1]}`, "properties"},
		{`{"type":"identify","userId":"u1","traits":"vip"}`, "traits"},
		{`{"type":"identify","userId":"u1","context":{"a":{"b":1}},"sentAt":7}`, "sentAt"},
	}
	for _, tt := range tests {
		_, err := segment.Decode([]byte(tt.body), "", -1, received, "", nil)
		var fe *segment.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.wantField {
			t.Errorf("Decode(%s): got %v, want a FieldError on %q", tt.body, err, tt.wantField)
		}
	}
}
