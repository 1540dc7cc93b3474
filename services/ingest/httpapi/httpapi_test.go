package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/httpapi"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/segment"
)

// published decodes every message f recorded.
func published(t *testing.T, f *bustest.Recorder) []*eventv1.Event {
	t.Helper()
	var out []*eventv1.Event
	for _, call := range f.Calls() {
		for _, m := range call {
			if got, want := m.Topic, topics.Events; got != want {
				t.Errorf("topic: got %q, want %q", got, want)
			}
			ev := &eventv1.Event{}
			if err := proto.Unmarshal(m.Value, ev); err != nil {
				t.Fatalf("unmarshal published event: %v", err)
			}
			out = append(out, ev)
		}
	}
	return out
}

func newHandler(t *testing.T, pubErr error) (*httpapi.Handler, *bustest.Recorder) {
	t.Helper()
	pub := &bustest.Recorder{Err: pubErr}
	p, err := pipeline.New(pub)
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return httpapi.New(p, map[string]string{"wk": "web", "ios-key": "ios"}, log), pub
}

type request struct {
	path     string
	body     []byte
	basicKey string // HTTP Basic user; "" sends no Authorization header
	gzip     bool   // compress the body and say so
	encoding string // Content-Encoding to claim without compressing
	method   string
}

func serve(t *testing.T, h http.Handler, rq request) *httptest.ResponseRecorder {
	t.Helper()
	body := rq.body
	if rq.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			t.Fatalf("gzip: %v", err)
		}
		if err := zw.Close(); err != nil {
			t.Fatalf("gzip close: %v", err)
		}
		body = buf.Bytes()
	}
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequestWithContext(t.Context(), method, rq.path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if rq.gzip {
		r.Header.Set("Content-Encoding", "gzip")
	}
	if rq.encoding != "" {
		r.Header.Set("Content-Encoding", rq.encoding)
	}
	if rq.basicKey != "" {
		r.SetBasicAuth(rq.basicKey, "")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type errorResponse struct {
	Success bool `json:"success"`
	Error   struct {
		Code            string `json:"code"`
		Message         string `json:"message"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"field_violations"`
	} `json:"error"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorResponse {
	t.Helper()
	if got, want := w.Header().Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	var e errorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if e.Success {
		t.Errorf("success: got true, want false")
	}
	return e
}

func assertSuccess(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if got, want := w.Code, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d (body %s)", got, want, w.Body.String())
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if got, want := body["success"], any(true); got != want {
		t.Errorf("success: got %v, want %v", got, want)
	}
}

func TestTrackOK(t *testing.T) {
	t.Parallel()
	h, pub := newHandler(t, nil)
	w := serve(t, h, request{
		path:     "/v1/track",
		basicKey: "wk",
		body:     []byte(`{"event":"Lesson Started","userId":"u1","messageId":"m1","properties":{"minutes":12}}`),
	})
	assertSuccess(t, w)
	if got, want := len(pub.Calls()), 1; got != want {
		t.Fatalf("Publish calls: got %d, want %d", got, want)
	}
	evs := published(t, pub)
	if got, want := len(evs), 1; got != want {
		t.Fatalf("published events: got %d, want %d", got, want)
	}
	ev := evs[0]
	for _, c := range []struct{ field, got, want string }{
		{"source_id", ev.GetSourceId(), "web"},
		{"user_id", ev.GetUserId(), "u1"},
		{"event_id", ev.GetEventId(), "m1"},
		{"event", ev.GetEvent(), "Lesson Started"},
		{"key", string(pub.Calls()[0][0].Key), "u1"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
		}
	}
	if got, want := ev.GetType(), eventv1.EventType_EVENT_TYPE_TRACK; got != want {
		t.Errorf("type: got %v, want %v", got, want)
	}
	if ev.GetReceivedAt() == nil || ev.GetTimestamp() == nil {
		t.Errorf("received_at, timestamp: got %v, %v, want both set", ev.GetReceivedAt(), ev.GetTimestamp())
	}
}

func TestSingleEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path     string
		body     string
		wantType eventv1.EventType
	}{
		{"/v1/track", `{"event":"Item Favorited","userId":"u1"}`, eventv1.EventType_EVENT_TYPE_TRACK},
		{"/v1/identify", `{"userId":"u1","traits":{"city_tier":2}}`, eventv1.EventType_EVENT_TYPE_IDENTIFY},
		{"/v1/page", `{"anonymousId":"a1","name":"Home"}`, eventv1.EventType_EVENT_TYPE_PAGE},
		{"/v1/screen", `{"userId":"u1","name":"Player"}`, eventv1.EventType_EVENT_TYPE_SCREEN},
		{"/v1/group", `{"userId":"u1","groupId":"g1"}`, eventv1.EventType_EVENT_TYPE_GROUP},
		{"/v1/alias", `{"userId":"u1","previousId":"a1"}`, eventv1.EventType_EVENT_TYPE_ALIAS},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			h, pub := newHandler(t, nil)
			assertSuccess(t, serve(t, h, request{path: tt.path, basicKey: "wk", body: []byte(tt.body)}))
			evs := published(t, pub)
			if got, want := len(evs), 1; got != want {
				t.Fatalf("published events: got %d, want %d", got, want)
			}
			if got, want := evs[0].GetType(), tt.wantType; got != want {
				t.Errorf("type: got %v, want %v", got, want)
			}
		})
	}
}

func TestWriteKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rq         request
		wantStatus int
		wantSource string
	}{
		{
			name:       "basic auth",
			rq:         request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X","userId":"u1"}`)},
			wantStatus: http.StatusOK, wantSource: "web",
		},
		{
			name:       "body writeKey",
			rq:         request{path: "/v1/track", body: []byte(`{"event":"X","userId":"u1","writeKey":"ios-key"}`)},
			wantStatus: http.StatusOK, wantSource: "ios",
		},
		{
			name:       "batch body writeKey",
			rq:         request{path: "/v1/batch", body: []byte(`{"writeKey":"wk","batch":[{"type":"track","event":"X","userId":"u1"}]}`)},
			wantStatus: http.StatusOK, wantSource: "web",
		},
		{
			name:       "basic auth wins over body writeKey",
			rq:         request{path: "/v1/track", basicKey: "ios-key", body: []byte(`{"event":"X","userId":"u1","writeKey":"wk"}`)},
			wantStatus: http.StatusOK, wantSource: "ios",
		},
		{
			name:       "unknown basic key",
			rq:         request{path: "/v1/track", basicKey: "nope", body: []byte(`{"event":"X","userId":"u1"}`)},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "unknown body writeKey",
			rq:         request{path: "/v1/track", body: []byte(`{"event":"X","userId":"u1","writeKey":"nope"}`)},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "missing key",
			rq:         request{path: "/v1/track", body: []byte(`{"event":"X","userId":"u1"}`)},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "missing key on batch",
			rq:         request{path: "/v1/batch", body: []byte(`{"batch":[{"type":"track","event":"X","userId":"u1"}]}`)},
			wantStatus: http.StatusUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, pub := newHandler(t, nil)
			w := serve(t, h, tt.rq)
			if got, want := w.Code, tt.wantStatus; got != want {
				t.Fatalf("status: got %d, want %d (body %s)", got, want, w.Body.String())
			}
			if tt.wantStatus != http.StatusOK {
				e := decodeError(t, w)
				if got, want := e.Error.Code, "unauthenticated"; got != want {
					t.Errorf("error.code: got %q, want %q", got, want)
				}
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
					t.Errorf("WWW-Authenticate: got %q, want a Basic challenge", got)
				}
				if got, want := len(pub.Calls()), 0; got != want {
					t.Errorf("Publish calls: got %d, want %d", got, want)
				}
				return
			}
			evs := published(t, pub)
			if got, want := len(evs), 1; got != want {
				t.Fatalf("published events: got %d, want %d", got, want)
			}
			if got, want := evs[0].GetSourceId(), tt.wantSource; got != want {
				t.Errorf("source_id: got %q, want %q", got, want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", segment.MaxBatchBytes)
	tests := []struct {
		name       string
		rq         request
		wantStatus int
		wantCode   string
		wantField  string // first field violation; "" for none
	}{
		{
			name:       "malformed JSON",
			rq:         request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "body",
		},
		{
			name:       "malformed batch JSON",
			rq:         request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "body",
		},
		{
			name:       "malformed message in batch",
			rq:         request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[{"type":"track","event":"X","userId":"u1"},"oops"]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "batch[1].body",
		},
		{
			name:       "malformed gzip",
			rq:         request{path: "/v1/track", basicKey: "wk", encoding: "gzip", body: []byte("not gzip")},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "body",
		},
		{
			name:       "missing userId and anonymousId",
			rq:         request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X"}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "userId",
		},
		{
			name:       "track without event",
			rq:         request{path: "/v1/track", basicKey: "wk", body: []byte(`{"userId":"u1"}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "event",
		},
		{
			name:       "unknown type in batch",
			rq:         request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[{"type":"purchase","userId":"u1"}]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "batch[0].type",
		},
		{
			name: "second message of batch invalid",
			rq: request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[
				{"type":"track","event":"X","userId":"u1"},
				{"type":"identify"}]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "batch[1].userId",
		},
		{
			name:       "empty batch",
			rq:         request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "batch",
		},
		{
			name:       "contract violation (event_id too long)",
			rq:         request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X","userId":"u1","messageId":"` + strings.Repeat("m", 129) + `"}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "event_id",
		},
		{
			name: "contract violation in batch names the message",
			rq: request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[
				{"type":"track","event":"X","userId":"u1"},
				{"type":"track","event":"X","userId":"u1","messageId":"` + strings.Repeat("m", 129) + `"}]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "batch[1].event_id",
		},
		{
			name:       "message over 32 KB",
			rq:         request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X","userId":"u1","properties":{"p":"` + strings.Repeat("x", segment.MaxMessageBytes) + `"}}`)},
			wantStatus: http.StatusBadRequest, wantCode: "too_large",
		},
		{
			name:       "batch over 500 KB",
			rq:         request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[{"type":"track","event":"X","userId":"u1","properties":{"p":"` + big + `"}}]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "too_large",
		},
		{
			name:       "gzipped batch over 500 KB once inflated",
			rq:         request{path: "/v1/batch", basicKey: "wk", gzip: true, body: []byte(`{"batch":[{"type":"track","event":"X","userId":"u1","properties":{"p":"` + big + `"}}]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "too_large",
		},
		{
			name: "message in batch over 32 KB",
			rq: request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[
				{"type":"track","event":"X","userId":"u1","properties":{"p":"` + strings.Repeat("x", segment.MaxMessageBytes) + `"}}]}`)},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_argument", wantField: "batch[0]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, pub := newHandler(t, nil)
			checkError(t, serve(t, h, tt.rq), tt.wantStatus, tt.wantCode, tt.wantField)
			if got, want := len(pub.Calls()), 0; got != want {
				t.Errorf("Publish calls: got %d, want %d", got, want)
			}
		})
	}
}

func checkError(t *testing.T, w *httptest.ResponseRecorder, wantStatus int, wantCode, wantField string) {
	t.Helper()
	if got := w.Code; got != wantStatus {
		t.Fatalf("status: got %d, want %d (body %s)", got, wantStatus, w.Body.String())
	}
	e := decodeError(t, w)
	if got := e.Error.Code; got != wantCode {
		t.Errorf("error.code: got %q, want %q", got, wantCode)
	}
	if e.Error.Message == "" {
		t.Errorf("error.message: got empty, want a message")
	}
	if wantField == "" {
		return
	}
	if len(e.Error.FieldViolations) == 0 {
		t.Fatalf("error.field_violations: got none, want one naming %q", wantField)
	}
	if got := e.Error.FieldViolations[0].Field; got != wantField {
		t.Errorf("error.field_violations[0].field: got %q, want %q", got, wantField)
	}
	if e.Error.FieldViolations[0].Description == "" {
		t.Errorf("error.field_violations[0].description: got empty, want a description")
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/v1/batch", "/v1/import"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			h, pub := newHandler(t, nil)
			body := `{
				"sentAt":"2026-03-01T12:00:00Z",
				"context":{"library":{"name":"analytics-go"}},
				"batch":[
					{"type":"identify","userId":"u1","messageId":"m1","traits":{"vip":true}},
					{"type":"track","event":"Order Completed","userId":"u1","messageId":"m2","context":{"ip":"10.0.0.1"}},
					{"type":"page","anonymousId":"a9","messageId":"m3","name":"Home"}
				]}`
			assertSuccess(t, serve(t, h, request{path: path, basicKey: "wk", body: []byte(body)}))
			calls := pub.Calls()
			if got, want := len(calls), 1; got != want {
				t.Fatalf("Publish calls: got %d, want %d (one write per batch)", got, want)
			}
			evs := published(t, pub)
			if got, want := len(evs), 3; got != want {
				t.Fatalf("published events: got %d, want %d", got, want)
			}
			wantIDs := []string{"m1", "m2", "m3"}
			wantKeys := []string{"u1", "u1", "a9"}
			for i, ev := range evs {
				if got, want := ev.GetEventId(), wantIDs[i]; got != want {
					t.Errorf("event %d id: got %q, want %q", i, got, want)
				}
				if got, want := string(calls[0][i].Key), wantKeys[i]; got != want {
					t.Errorf("event %d key: got %q, want %q", i, got, want)
				}
				if got, want := ev.GetSourceId(), "web"; got != want {
					t.Errorf("event %d source_id: got %q, want %q", i, got, want)
				}
				if ev.GetSentAt() == nil {
					t.Errorf("event %d sent_at: got nil, want the batch sentAt", i)
				}
			}
			lib := func(ev *eventv1.Event) string {
				return ev.GetContext().GetFields()["library"].GetStructValue().GetFields()["name"].GetStringValue()
			}
			if got, want := lib(evs[0]), "analytics-go"; got != want {
				t.Errorf("event 0 context.library.name: got %q, want %q", got, want)
			}
			if got, want := lib(evs[1]), ""; got != want {
				t.Errorf("event 1 context.library.name: got %q, want %q (own context wins)", got, want)
			}
		})
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, body string
		wantEvents int
	}{
		{"/v1/track", `{"event":"X","userId":"u1"}`, 1},
		{"/v1/batch", `{"batch":[{"type":"track","event":"X","userId":"u1"},{"type":"identify","userId":"u2"}]}`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			h, pub := newHandler(t, nil)
			assertSuccess(t, serve(t, h, request{path: tt.path, basicKey: "wk", gzip: true, body: []byte(tt.body)}))
			if got, want := len(published(t, pub)), tt.wantEvents; got != want {
				t.Errorf("published events: got %d, want %d", got, want)
			}
		})
	}
}

func TestPublisherUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, body string }{
		{"/v1/track", `{"event":"X","userId":"u1"}`},
		{"/v1/batch", `{"batch":[{"type":"track","event":"X","userId":"u1"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			h, pub := newHandler(t, errors.New("broker down"))
			w := serve(t, h, request{path: tt.path, basicKey: "wk", body: []byte(tt.body)})
			checkError(t, w, http.StatusServiceUnavailable, "unavailable", "")
			if got := w.Header().Get("Retry-After"); got == "" {
				t.Errorf("Retry-After: got empty, want a delay")
			}
			if strings.Contains(w.Body.String(), "broker down") {
				t.Errorf("body: got %q, want the internal error not leaked", w.Body.String())
			}
			if got, want := len(pub.Calls()), 1; got != want {
				t.Errorf("Publish calls: got %d, want %d", got, want)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{http.MethodGet, "/v1/track", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/unknown", http.StatusNotFound},
	}
	for _, tt := range tests {
		h, pub := newHandler(t, nil)
		w := serve(t, h, request{method: tt.method, path: tt.path, basicKey: "wk", body: []byte(`{"event":"X","userId":"u1"}`)})
		if got := w.Code; got != tt.wantStatus {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, got, tt.wantStatus)
		}
		if got, want := len(pub.Calls()), 0; got != want {
			t.Errorf("%s %s: Publish calls: got %d, want %d", tt.method, tt.path, got, want)
		}
	}
}
