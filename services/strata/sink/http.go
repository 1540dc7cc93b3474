package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratahq/strata/services/ingest/segment"
)

// Segment API limits the HTTP sink keeps below.
const (
	// MaxBatchMessages is the most messages the HTTP sink puts in one /v1/batch request.
	MaxBatchMessages = 100
	// MaxBatchBytes bounds the body of one /v1/batch request (Segment's limit is 500 KB).
	MaxBatchBytes = 500_000
)

// ErrNoAdminKey is returned by SendItems of the HTTP sink without an admin key: catalog
// items go through the admin REST API, not the Segment API.
var ErrNoAdminKey = errors.New("sink: catalog items need an admin key")

// HTTPConfig configures the Segment HTTP API sink.
type HTTPConfig struct {
	// URL is the base URL of the Segment API, e.g. http://127.0.0.1:8080 (the gateway).
	URL string
	// WriteKey is sent as the HTTP Basic user.
	WriteKey string
	// AdminKey, when set, lets SendItems post items to the gateway's admin REST API
	// (POST /api/v1/admin/catalog/items) as a Bearer token.
	AdminKey string
	// Concurrency is the number of requests in flight; default 4.
	Concurrency int
	// BatchSize is the most messages per request; default and maximum 100.
	BatchSize int
	// Linger is how long a partial batch waits for more messages; default 50ms.
	Linger time.Duration
	// Client defaults to a client with a 30 s timeout.
	Client *http.Client
}

// HTTP is the Segment HTTP API sink.
type HTTP struct {
	cfg HTTPConfig
	cnt counters
	b   *batcher[[]byte]
}

// NewHTTP returns a sink posting to cfg.URL + "/v1/batch".
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if cfg.URL == "" {
		return nil, errors.New("sink: HTTP URL is required")
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > MaxBatchMessages {
		cfg.BatchSize = MaxBatchMessages
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, IdleConnTimeout: 30 * time.Second},
		}
	}
	h := &HTTP{cfg: cfg}
	envelope := len(`{"batch":[]}`)
	h.b = newBatcher(batching{
		workers:  cfg.Concurrency,
		maxItems: cfg.BatchSize,
		maxBytes: MaxBatchBytes - envelope,
		linger:   cfg.Linger,
	}, &h.cnt, encodeSegment, h.post)
	return h, nil
}

func encodeSegment(m *Message) ([]byte, int, error) {
	raw, err := encodeJSON(m)
	if err != nil {
		return nil, 0, fmt.Errorf("sink: encode message %s: %w", m.MessageID, err)
	}
	if len(raw) > segment.MaxMessageBytes {
		return nil, 0, fmt.Errorf("sink: message %s is %d bytes: %w", m.MessageID, len(raw), segment.ErrTooLarge)
	}
	return raw, len(raw) + 1, nil // +1 for the comma
}

// Send implements Sink.
func (h *HTTP) Send(ctx context.Context, m Message) error { return h.b.send(ctx, m) }

// Close implements Sink.
func (h *HTTP) Close(ctx context.Context) error { return h.b.close(ctx) }

// Stats implements Sink.
func (h *HTTP) Stats() Stats { return h.cnt.stats() }

func (h *HTTP) post(ctx context.Context, batch [][]byte) error {
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i, raw := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(raw)
	}
	body.WriteString(`]}`)
	payload := body.Bytes()
	return defaultRetry.do(ctx, &h.cnt, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL+"/v1/batch", bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.SetBasicAuth(h.cfg.WriteKey, "")
		req.Header.Set("Content-Type", "application/json")
		return h.do(req)
	})
}

// SendItems posts items to the admin REST API in chunks; see HTTPConfig.AdminKey.
func (h *HTTP) SendItems(ctx context.Context, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	if h.cfg.AdminKey == "" {
		return ErrNoAdminKey
	}
	for chunk := range slices.Chunk(items, 500) {
		payload, err := encodeJSON(map[string]any{"items": chunk})
		if err != nil {
			return fmt.Errorf("sink: encode items: %w", err)
		}
		err = defaultRetry.do(ctx, &h.cnt, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL+"/api/v1/admin/catalog/items", bytes.NewReader(payload))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+h.cfg.AdminKey)
			req.Header.Set("Content-Type", "application/json")
			return h.do(req)
		})
		if err != nil {
			return fmt.Errorf("sink: upsert items: %w", err)
		}
		h.cnt.items.Add(int64(len(chunk)))
	}
	return nil
}

// do sends req and classifies the outcome: 2xx is success; 429, 502, 503, 504 and
// transport errors are retryable; anything else is final.
func (h *HTTP) do(req *http.Request) error {
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return err
		}
		return &errRetryable{err: fmt.Errorf("POST %s: %w", req.URL.Path, err)}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("POST %s: %s: %s", req.URL.Path, resp.Status, bytes.TrimSpace(snippet))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &errRetryable{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return err
}

// retryAfter parses a Retry-After header given in seconds.
func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}
