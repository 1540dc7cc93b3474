// Package httpapi serves the Segment-compatible HTTP API (/v1/track, /v1/identify,
// /v1/page, /v1/screen, /v1/group, /v1/alias, /v1/batch and its alias /v1/import) so that
// any Segment SDK can send events to Strata.
//
// The write key is the HTTP Basic user (or the body's writeKey); bodies may be gzipped.
// Segment's limits hold: 32 KB per call or per message of a batch, 500 KB per batch
// (after inflation); a body over them is answered 400 with code "too_large", as Segment
// does.
//
// A 200 {"success":true} means Kafka acknowledged every event of the request (duplicates
// of events published before are acknowledged too, and not published again). A batch is
// accepted whole or not at all: when any message is wrong the answer is 400 and its body
// lists every wrong message of the batch (error.rejected, one entry per message with its
// index, messageId, field and reason; error.field_violations, one per problem, with
// fields named batch[i].field). An unknown write key gets 401; an overloaded instance 429
// and an unavailable Kafka or Redis 503, both with Retry-After.
package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stratahq/strata/pkg/rpcerr"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/inflight"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/segment"
)

type processor interface {
	Process(ctx context.Context, events []*eventv1.Event) (pipeline.Result, error)
	Check(events []*eventv1.Event) ([]*pipeline.InvalidError, error)
}

// Option configures a Handler.
type Option func(*Handler)

// WithLimiter bounds the requests in flight; without one the handler admits everything.
func WithLimiter(l *inflight.Limiter) Option { return func(h *Handler) { h.limiter = l } }

// WithRetryAfter sets the Retry-After of 429 and 503 answers (default 1s).
func WithRetryAfter(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.retryAfter = strconv.Itoa(int((d + time.Second - 1) / time.Second))
		}
	}
}

// Handler serves the Segment API. It is safe for concurrent use.
type Handler struct {
	proc       processor
	writeKeys  map[string]string
	log        *slog.Logger
	now        func() time.Time
	mux        *http.ServeMux
	limiter    *inflight.Limiter
	retryAfter string
}

// New returns the handler; writeKeys maps each accepted write key to its source id.
func New(p processor, writeKeys map[string]string, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{proc: p, writeKeys: writeKeys, log: log, now: time.Now, mux: http.NewServeMux(), retryAfter: "1"}
	for _, o := range opts {
		o(h)
	}
	for _, typ := range []string{"track", "identify", "page", "screen", "group", "alias"} {
		h.mux.HandleFunc("POST /v1/"+typ, h.admit(segment.MaxMessageBytes, h.single(typ)))
	}
	h.mux.HandleFunc("POST /v1/batch", h.admit(segment.MaxBatchBytes, h.batch))
	h.mux.HandleFunc("POST /v1/import", h.admit(segment.MaxBatchBytes, h.batch))
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// errOverloaded is answered with 429.
var errOverloaded = errors.New("too many requests in flight, retry later")

// admit runs next if the limiter has room for a body of at most limit bytes.
func (h *Handler) admit(limit int64, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.limiter == nil {
			next(w, r)
			return
		}
		reserve := limit
		if r.ContentLength >= 0 && r.ContentLength < limit && !isGzip(r) {
			reserve = r.ContentLength
		}
		release, ok := h.limiter.TryAcquire(reserve)
		if !ok {
			h.fail(w, r, errOverloaded)
			return
		}
		defer release()
		next(w, r)
	}
}

func (h *Handler) single(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		received := h.now().UTC()
		body, err := readBody(r, segment.MaxMessageBytes)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		source, err := h.source(r, body)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ev, err := segment.Decode(body, typ, -1, received, "", nil)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ev.SourceId = source
		if _, err := h.proc.Process(r.Context(), []*eventv1.Event{ev}); err != nil {
			var re *pipeline.RejectedError
			if errors.As(err, &re) && len(re.Events) == 1 {
				err = re.Events[0]
			}
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, success{Success: true})
	}
}

func (h *Handler) batch(w http.ResponseWriter, r *http.Request) {
	received := h.now().UTC()
	body, err := readBody(r, segment.MaxBatchBytes)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	source, err := h.source(r, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	decoded, err := segment.DecodeBatch(body, received)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	events := make([]*eventv1.Event, 0, len(decoded))
	at := make([]int, 0, len(decoded)) // batch index of events[j]
	var rejected []rejection
	for _, d := range decoded {
		if d.Err != nil {
			rejected = append(rejected, decodeRejection(d))
			continue
		}
		d.Event.SourceId = source
		events = append(events, d.Event)
		at = append(at, d.Index)
	}
	if len(rejected) > 0 {
		// Report the contract violations of the messages that did decode too, so the
		// client learns everything wrong with the batch at once.
		bad, err := h.proc.Check(events)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, ie := range bad {
			rejected = append(rejected, invalidRejection(at[ie.Index], events[ie.Index].GetEventId(), ie))
		}
		h.fail(w, r, &batchError{rejected: rejected})
		return
	}
	if _, err := h.proc.Process(r.Context(), events); err != nil {
		var re *pipeline.RejectedError
		if errors.As(err, &re) {
			for _, ie := range re.Events {
				rejected = append(rejected, invalidRejection(at[ie.Index], events[ie.Index].GetEventId(), ie))
			}
			err = &batchError{rejected: rejected}
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success{Success: true})
}

// rejection says why one message of a batch was refused.
type rejection struct {
	Index      int                     `json:"index"`
	MessageID  string                  `json:"messageId,omitempty"`
	Field      string                  `json:"field"`
	Reason     string                  `json:"reason"`
	violations []rpcerr.FieldViolation // batch[i].field, for field_violations
}

func decodeRejection(d segment.Decoded) rejection {
	rj := rejection{Index: d.Index, MessageID: d.MessageID, Reason: d.Err.Error()}
	var fe *segment.FieldError
	if errors.As(d.Err, &fe) {
		rj.Field, rj.Reason = fe.Field, fe.Message
	}
	rj.violations = []rpcerr.FieldViolation{{Field: batchField(d.Index, rj.Field), Description: rj.Reason}}
	return rj
}

func invalidRejection(index int, messageID string, ie *pipeline.InvalidError) rejection {
	rj := rejection{Index: index, MessageID: messageID, Reason: ie.Error()}
	if len(ie.Violations) > 0 {
		rj.Field, rj.Reason = ie.Violations[0].Field, ie.Violations[0].Description
	}
	for _, v := range ie.Violations {
		rj.violations = append(rj.violations, rpcerr.FieldViolation{Field: batchField(index, v.Field), Description: v.Description})
	}
	return rj
}

func batchField(index int, field string) string {
	if field == "" {
		return fmt.Sprintf("batch[%d]", index)
	}
	return fmt.Sprintf("batch[%d].%s", index, field)
}

// batchError is a batch refused because of the messages it lists.
type batchError struct{ rejected []rejection }

func (e *batchError) Error() string {
	first := e.rejected[0]
	msg := fmt.Sprintf("%s: %s", batchField(first.Index, first.Field), first.Reason)
	if n := len(e.rejected); n > 1 {
		msg = fmt.Sprintf("%d messages of the batch are invalid; first: %s", n, msg)
	}
	return msg
}

// errUnauthorized is answered with 401.
var errUnauthorized = errors.New("unknown or missing write key")

// source authenticates the write key (HTTP Basic user, else the body's writeKey).
func (h *Handler) source(r *http.Request, body []byte) (string, error) {
	key, _, ok := r.BasicAuth()
	if !ok || key == "" {
		var wk struct {
			WriteKey string `json:"writeKey"`
		}
		_ = json.Unmarshal(body, &wk)
		key = wk.WriteKey
	}
	src, found := h.writeKeys[key]
	if key == "" || !found {
		return "", errUnauthorized
	}
	return src, nil
}

type success struct {
	Success bool `json:"success"`
}

// errorBody is the JSON error of the Segment API.
type errorBody struct {
	Success bool        `json:"success"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	Code            string                  `json:"code"`
	Message         string                  `json:"message"`
	FieldViolations []rpcerr.FieldViolation `json:"field_violations,omitempty"`
	Rejected        []rejection             `json:"rejected,omitempty"`
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fe *segment.FieldError
		ie *pipeline.InvalidError
		be *batchError
	)
	switch {
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Basic realm="strata"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: errorDetail{Code: "unauthenticated", Message: err.Error()}})
	case errors.Is(err, errOverloaded):
		w.Header().Set("Retry-After", h.retryAfter)
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: errorDetail{Code: "resource_exhausted", Message: err.Error()}})
	case errors.As(err, &be):
		var vs []rpcerr.FieldViolation
		for _, rj := range be.rejected {
			vs = append(vs, rj.violations...)
		}
		writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{
			Code: "invalid_argument", Message: err.Error(), FieldViolations: vs, Rejected: be.rejected,
		}})
	case errors.Is(err, segment.ErrTooLarge) && !errors.As(err, &fe):
		// Segment answers 400 to a body over its limits.
		writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{Code: "too_large", Message: err.Error()}})
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{
			Code: "invalid_argument", Message: err.Error(),
			FieldViolations: []rpcerr.FieldViolation{{Field: fe.Field, Description: fe.Message}},
		}})
	case errors.As(err, &ie):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{
			Code: "invalid_argument", Message: err.Error(), FieldViolations: ie.Violations,
		}})
	case errors.Is(err, pipeline.ErrUnavailable):
		h.log.WarnContext(r.Context(), "publish failed", "err", err)
		w.Header().Set("Retry-After", h.retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: "unavailable", Message: "event bus unavailable, retry later"}})
	default:
		h.log.ErrorContext(r.Context(), "ingest failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: "internal", Message: "internal error"}})
	}
}

func isGzip(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip")
}

// readBody reads at most limit bytes of the (possibly gzipped) body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = r.Body
	if isGzip(r) {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, &segment.FieldError{Index: -1, Field: "body", Message: "malformed gzip: " + err.Error()}
		}
		defer gz.Close()
		rd = gz
	}
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= limit && rd == r.Body {
		buf.Grow(int(n) + bytes.MinRead) // read without regrowing: ReadFrom wants MinRead spare
	}
	if _, err := buf.ReadFrom(io.LimitReader(rd, limit+1)); err != nil {
		return nil, &segment.FieldError{Index: -1, Field: "body", Message: "unreadable: " + err.Error()}
	}
	body := buf.Bytes()
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: body exceeds %d bytes", segment.ErrTooLarge, limit)
	}
	return body, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
