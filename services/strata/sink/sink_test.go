package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// messages returns n messages spread over users, each user's numbered in order.
func messages(n, users, padding int) []Message {
	out := make([]Message, n)
	for i := range out {
		out[i] = Message{
			Type:       "track",
			Event:      "Lesson Completed",
			MessageID:  fmt.Sprintf("m%d", i),
			UserID:     fmt.Sprintf("u%d", i%users),
			Timestamp:  t0.Add(time.Duration(i) * time.Second),
			Properties: map[string]any{"seq": i, "pad": strings.Repeat("x", padding)},
		}
	}
	return out
}

// segmentServer is a fake Segment API that records batches; fail decides the status
// of a request before it is recorded (0 records it and answers 200).
type segmentServer struct {
	mu      sync.Mutex
	batches [][]Message
	sizes   []int
	auth    []string
	items   int
	fail    func(n int) int
	n       atomic.Int64
}

func (s *segmentServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.n.Add(1))
	if s.fail != nil {
		if code := s.fail(n); code != 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(code)
			_, _ = io.WriteString(w, `{"success":false}`)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/v1/batch":
		var b struct{ Batch []Message }
		if err := json.Unmarshal(body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		user, _, _ := r.BasicAuth()
		s.batches = append(s.batches, b.Batch)
		s.sizes = append(s.sizes, len(body))
		s.auth = append(s.auth, user)
	case "/api/v1/admin/catalog/items":
		var b struct{ Items []Item }
		_ = json.Unmarshal(body, &b)
		s.items += len(b.Items)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	_, _ = io.WriteString(w, `{"success":true}`)
}

// checkOrder checks that every message arrived once and each user's in order.
func checkOrder(t *testing.T, batches [][]Message, want int) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]float64{}
	for _, b := range batches {
		for _, m := range b {
			if seen[m.MessageID] {
				t.Fatalf("message %s delivered twice", m.MessageID)
			}
			seen[m.MessageID] = true
			seq := m.Properties["seq"].(float64)
			if prev, ok := last[m.UserID]; ok && seq < prev {
				t.Fatalf("user %s: message %v after %v", m.UserID, seq, prev)
			}
			last[m.UserID] = seq
		}
	}
	if len(seen) != want {
		t.Fatalf("delivered %d messages, want %d", len(seen), want)
	}
}

func TestHTTPBatchesAndOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n, padding int
	}{
		{"small messages fill 100", 1050, 10},
		{"large messages fill 500 KB", 300, 20_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &segmentServer{}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			h, err := NewHTTP(HTTPConfig{URL: ts.URL, WriteKey: "wk", Concurrency: 3})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, m := range messages(tt.n, 17, tt.padding) {
				if err := h.Send(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Close(ctx); err != nil {
				t.Fatal(err)
			}
			checkOrder(t, srv.batches, tt.n)
			for i, b := range srv.batches {
				if len(b) > MaxBatchMessages || srv.sizes[i] > MaxBatchBytes {
					t.Errorf("batch %d: %d messages, %d bytes; want at most %d and %d", i, len(b), srv.sizes[i], MaxBatchMessages, MaxBatchBytes)
				}
				if srv.auth[i] != "wk" {
					t.Errorf("batch %d: write key %q, want wk", i, srv.auth[i])
				}
			}
			if got := h.Stats().Delivered; got != int64(tt.n) {
				t.Errorf("Stats().Delivered: got %d, want %d", got, tt.n)
			}
		})
	}
}

func TestHTTPRetriesBackPressure(t *testing.T) {
	t.Parallel()
	// Every third request is refused with 503 or 429, as an overloaded ingest does.
	srv := &segmentServer{fail: func(n int) int {
		switch n % 3 {
		case 1:
			return http.StatusServiceUnavailable
		case 2:
			return http.StatusTooManyRequests
		}
		return 0
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	h, err := NewHTTP(HTTPConfig{URL: ts.URL, WriteKey: "wk", AdminKey: "ak", Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.SendItems(ctx, make([]Item, 3)); err != nil {
		t.Fatal(err)
	}
	for _, m := range messages(500, 5, 0) {
		if err := h.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, srv.batches, 500)
	st := h.Stats()
	if st.Retries == 0 || st.Items != 3 {
		t.Errorf("stats %+v: want retries and 3 items", st)
	}
	if srv.items != 3 || srv.auth[0] != "Bearer ak" {
		t.Errorf("items: got %d with %q, want 3 with Bearer ak", srv.items, srv.auth[0])
	}
}

func TestHTTPStopsOnRefusal(t *testing.T) {
	t.Parallel()
	srv := &segmentServer{fail: func(int) int { return http.StatusUnauthorized }}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	h, err := NewHTTP(HTTPConfig{URL: ts.URL, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sendErr error
	for _, m := range messages(5000, 5, 0) {
		if sendErr = h.Send(ctx, m); sendErr != nil {
			break
		}
	}
	err = h.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Close: got %v, want the 401", err)
	}
	if sendErr != nil && !errors.Is(sendErr, ErrStopped) {
		t.Errorf("Send after the failure: got %v, want ErrStopped", sendErr)
	}
	if got := srv.n.Load(); got > 10 {
		t.Errorf("requests: got %d, want the sink to stop after the first refusals", got)
	}
	if err := h.SendItems(ctx, make([]Item, 1)); !errors.Is(err, ErrNoAdminKey) {
		t.Errorf("SendItems without admin key: got %v, want ErrNoAdminKey", err)
	}
}

// ingestServer is a fake IngestService.
type ingestServer struct {
	ingestv1.UnimplementedIngestServiceServer
	mu      sync.Mutex
	batches [][]*eventv1.Event
	items   int
	tokens  map[string]bool
	calls   atomic.Int64
}

func (s *ingestServer) IngestBatch(ctx context.Context, req *ingestv1.IngestBatchRequest) (*ingestv1.IngestBatchResponse, error) {
	if s.calls.Add(1)%4 == 1 {
		return nil, status.Error(codes.Unavailable, "try later")
	}
	s.record(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, req.GetEvents())
	return &ingestv1.IngestBatchResponse{Accepted: int32(len(req.GetEvents()))}, nil
}

func (s *ingestServer) UpsertItems(ctx context.Context, req *ingestv1.UpsertItemsRequest) (*ingestv1.UpsertItemsResponse, error) {
	s.record(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items += len(req.GetItems())
	return &ingestv1.UpsertItemsResponse{Upserted: int32(len(req.GetItems()))}, nil
}

func (s *ingestServer) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range md.Get("authorization") {
		s.tokens[v] = true
	}
}

func TestGRPC(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &ingestServer{tokens: map[string]bool{}}
	srv := grpc.NewServer()
	ingestv1.RegisterIngestServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	g, err := NewGRPC(GRPCConfig{Addr: lis.Addr().String(), Token: "tok", BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	items := []Item{{ItemID: "i1", Type: "ITEM_TYPE_EBOOK", Title: "t", UpdatedAt: t0}}
	if err := g.SendItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	const n = 1234
	for _, m := range messages(n, 9, 0) {
		if err := g.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var got [][]Message
	for i, b := range fake.batches {
		if len(b) > MaxGRPCBatch {
			t.Errorf("batch %d has %d events, want at most %d", i, len(b), MaxGRPCBatch)
		}
		var ms []Message
		for _, ev := range b {
			if ev.GetType() != eventv1.EventType_EVENT_TYPE_TRACK || !ev.GetTimestamp().AsTime().After(t0.Add(-time.Second)) {
				t.Fatalf("event %v: want a track event with its own timestamp", ev)
			}
			ms = append(ms, Message{MessageID: ev.GetEventId(), UserID: ev.GetUserId(), Properties: ev.GetProperties().AsMap()})
		}
		got = append(got, ms)
	}
	checkOrder(t, got, n)
	if fake.items != 1 || !fake.tokens["Bearer tok"] {
		t.Errorf("items %d, tokens %v: want 1 item and Bearer tok", fake.items, fake.tokens)
	}
	if g.Stats().Retries == 0 {
		t.Error("no retries after Unavailable")
	}
}

func TestKafka(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	ctx := context.Background()
	k, err := NewKafka(ctx, KafkaConfig{Brokers: brokers, Logger: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	items := []Item{{ItemID: "i1", Type: "ITEM_TYPE_COURSE", Title: "Go", PriceMinor: 9900, Currency: "CNY"}}
	if err := k.SendItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for _, m := range messages(n, 7, 0) {
		if err := k.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}

	raw := readAll(t, brokers, topics.EventsRaw, n)
	var batch []Message
	for _, km := range raw {
		var m Message
		if err := json.Unmarshal(km.Value, &m); err != nil {
			t.Fatalf("value is not a Segment message: %v", err)
		}
		if string(km.Key) != m.UserID {
			t.Fatalf("key %q, want the user id %q", km.Key, m.UserID)
		}
		batch = append(batch, m)
	}
	checkOrder(t, [][]Message{batch}, n)

	cat := readAll(t, brokers, topics.Catalog, 1)
	var it eventv1.CatalogItem
	if err := proto.Unmarshal(cat[0].Value, &it); err != nil || it.GetItemId() != "i1" || string(cat[0].Key) != "i1" {
		t.Errorf("catalog record %q %v (%v), want item i1 keyed i1", cat[0].Key, &it, err)
	}
}

// readAll reads n records of topic from the start, every partition in order.
func readAll(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, GroupID: bustest.Group(t),
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Partitions interleave; sorting by partition and offset restores per-key order.
	byPart := map[int][]kafka.Message{}
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		byPart[m.Partition] = append(byPart[m.Partition], m)
	}
	var out []kafka.Message
	for p := range 64 {
		out = append(out, byPart[p]...)
	}
	return out
}

func TestFileAndTee(t *testing.T) {
	t.Parallel()
	var a, b, items strings.Builder
	s := Tee(NewFile(&a, &items), NewFile(&b, nil))
	ctx := context.Background()
	if err := s.SendItems(ctx, []Item{{ItemID: "i1", Type: "ITEM_TYPE_EBOOK", Title: "书", UpdatedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range messages(3, 2, 0) {
		if err := s.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || strings.Count(a.String(), "\n") != 3 {
		t.Errorf("tee outputs differ or miss lines:\n%s---\n%s", a.String(), b.String())
	}
	want := `{"itemId":"i1","type":"ITEM_TYPE_EBOOK","title":"书","priceMinor":0,"updatedAt":"2026-05-01T08:00:00Z"}` + "\n"
	if items.String() != want {
		t.Errorf("items file: got %s, want %s", items.String(), want)
	}
	if st := s.Stats(); st.Delivered != 3 || st.Items != 0 {
		t.Errorf("tee stats %+v: want 3 delivered by both, items by only one", st)
	}
}

// fakeClock records sleeps instead of sleeping.
type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func TestPace(t *testing.T) {
	t.Parallel()
	at := func(secs ...int) []Message {
		var ms []Message
		for _, s := range secs {
			ms = append(ms, Message{UserID: "u", Timestamp: t0.Add(time.Duration(s) * time.Second)})
		}
		return ms
	}
	tests := []struct {
		name string
		cfg  PaceConfig
		msgs []Message
		want []time.Duration
	}{
		{"compress a day to a second", PaceConfig{Compress: 86400}, at(0, 86400, 2*86400), []time.Duration{time.Second, time.Second}},
		{"earlier timestamps do not wait", PaceConfig{Compress: 1000}, at(0, 5000, 1000), []time.Duration{5 * time.Second}},
		{"rate", PaceConfig{Rate: 10}, at(0, 0, 0), []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &fakeClock{now: time.Unix(1000, 0)}
			var out strings.Builder
			p := Pace(NewFile(&out, nil), tt.cfg).(*paced)
			p.clock = clk
			for _, m := range tt.msgs {
				if err := p.Send(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(clk.slept) != fmt.Sprint(tt.want) {
				t.Errorf("sleeps: got %v, want %v", clk.slept, tt.want)
			}
		})
	}
}
