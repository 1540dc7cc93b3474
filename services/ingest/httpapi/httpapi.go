// Package httpapi serves the Segment-compatible HTTP API (/v1/track, /v1/identify,
// /v1/page, /v1/screen, /v1/group, /v1/alias, /v1/batch) so that any Segment SDK can send
// events to Strata.
//
// The write key is the HTTP Basic user (or the body's writeKey); bodies may be gzipped.
// A 200 means Kafka acknowledged every event. Bad input gets 400 with a JSON body naming
// the field; an unknown write key 401; an unavailable bus 503 with Retry-After.
package httpapi

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stratahq/strata/services/ingest/segment"

	"github.com/stratahq/strata/pkg/rpcerr"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

type acceptor interface {
	Accept(ctx context.Context, events ...*eventv1.Event) error
}

// Handler serves the Segment API.
type Handler struct {
	accept    acceptor
	writeKeys map[string]string
	log       *slog.Logger
	now       func() time.Time
	mux       *http.ServeMux
}

// New returns the handler; writeKeys maps each accepted write key to its source id.
func New(a acceptor, writeKeys map[string]string, log *slog.Logger) *Handler {
	h := &Handler{accept: a, writeKeys: writeKeys, log: log, now: time.Now, mux: http.NewServeMux()}
	for _, typ := range []string{"track", "identify", "page", "screen", "group", "alias"} {
		h.mux.HandleFunc("POST /v1/"+typ, h.single(typ))
	}
	h.mux.HandleFunc("POST /v1/batch", h.batch)
	h.mux.HandleFunc("POST /v1/import", h.batch)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

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
		h.publish(w, r, false, ev)
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
	var b segment.Batch
	if err := json.Unmarshal(body, &b); err != nil {
		h.fail(w, r, &segment.FieldError{Index: -1, Field: "body", Message: "malformed JSON: " + err.Error()})
		return
	}
	if len(b.Batch) == 0 {
		h.fail(w, r, &segment.FieldError{Index: -1, Field: "batch", Message: "must hold at least one message"})
		return
	}
	events := make([]*eventv1.Event, 0, len(b.Batch))
	for i, raw := range b.Batch {
		ev, err := segment.Decode(raw, "", i, received, b.SentAt, b.Context)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ev.SourceId = source
		events = append(events, ev)
	}
	h.publish(w, r, true, events...)
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request, batch bool, events ...*eventv1.Event) {
	if err := h.accept.Accept(r.Context(), events...); err != nil {
		var ie *pipeline.InvalidError
		if batch && errors.As(err, &ie) {
			// Name the message as decoding errors do (batch[i].field), so a client can
			// tell which message of the batch broke the contract.
			vs := make([]rpcerr.FieldViolation, len(ie.Violations))
			for i, v := range ie.Violations {
				vs[i] = rpcerr.FieldViolation{Field: fmt.Sprintf("batch[%d].%s", ie.Index, v.Field), Description: v.Description}
			}
			err = &pipeline.InvalidError{Index: ie.Index, Violations: vs}
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
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

// errorBody is the JSON error of the Segment API.
type errorBody struct {
	Success bool        `json:"success"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	Code            string                  `json:"code"`
	Message         string                  `json:"message"`
	FieldViolations []rpcerr.FieldViolation `json:"field_violations,omitempty"`
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fe *segment.FieldError
		ie *pipeline.InvalidError
	)
	switch {
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Basic realm="strata"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: errorDetail{Code: "unauthenticated", Message: err.Error()}})
	case errors.Is(err, segment.ErrTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: errorDetail{Code: "too_large", Message: err.Error()}})
	case errors.As(err, &fe):
		field := fe.Field
		if fe.Index >= 0 {
			field = fmt.Sprintf("batch[%d].%s", fe.Index, fe.Field)
		}
		writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{
			Code: "invalid_argument", Message: err.Error(),
			FieldViolations: []rpcerr.FieldViolation{{Field: field, Description: fe.Message}},
		}})
	case errors.As(err, &ie):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{
			Code: "invalid_argument", Message: err.Error(), FieldViolations: ie.Violations,
		}})
	case errors.Is(err, pipeline.ErrUnavailable):
		h.log.WarnContext(r.Context(), "publish failed", "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: "unavailable", Message: "event bus unavailable, retry later"}})
	default:
		h.log.ErrorContext(r.Context(), "ingest failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: "internal", Message: "internal error"}})
	}
}

// readBody reads at most limit bytes of the (possibly gzipped) body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, &segment.FieldError{Index: -1, Field: "body", Message: "malformed gzip: " + err.Error()}
		}
		defer gz.Close()
		rd = gz
	}
	body, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, &segment.FieldError{Index: -1, Field: "body", Message: "unreadable: " + err.Error()}
	}
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
