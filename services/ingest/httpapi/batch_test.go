package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/ingest/httpapi"
	"github.com/stratahq/strata/services/ingest/inflight"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/segment"
)

type rejectedResponse struct {
	Error struct {
		Code            string `json:"code"`
		FieldViolations []struct {
			Field string `json:"field"`
		} `json:"field_violations"`
		Rejected []struct {
			Index     int    `json:"index"`
			MessageID string `json:"messageId"`
			Field     string `json:"field"`
			Reason    string `json:"reason"`
		} `json:"rejected"`
	} `json:"error"`
}

// TestBatchListsEveryRejectedMessage checks that a 400 names every wrong message of a
// batch, whether it failed decoding or the event contract, and nothing else.
func TestBatchListsEveryRejectedMessage(t *testing.T) {
	t.Parallel()
	h, pub := newHandler(t, nil)
	props := make([]string, segment.MaxProperties+1)
	for i := range props {
		props[i] = fmt.Sprintf(`"p%d":1`, i)
	}
	body := `{"batch":[
		{"type":"track","event":"X","userId":"u1","messageId":"ok-0"},
		{"type":"purchase","userId":"u1","messageId":"bad-1"},
		{"type":"track","event":"X","userId":"u1","messageId":"ok-2"},
		{"type":"track","event":"X","userId":"u1","messageId":"` + strings.Repeat("m", 129) + `"},
		{"type":"identify","messageId":"bad-4"},
		{"type":"track","event":"X","userId":"u1","messageId":"bad-5","properties":{` + strings.Join(props, ",") + `}},
		"oops"
	]}`
	w := serve(t, h, request{path: "/v1/batch", basicKey: "wk", body: []byte(body)})
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status: got %d, want 400 (%s)", w.Code, w.Body.String())
	}
	var got rejectedResponse
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "type", 3: "event_id", 4: "userId", 5: "properties", 6: "body"}
	if len(got.Error.Rejected) != len(want) {
		t.Fatalf("rejected: got %+v, want indexes 1, 3, 4, 5 and 6", got.Error.Rejected)
	}
	for _, rj := range got.Error.Rejected {
		if want[rj.Index] != rj.Field || rj.Reason == "" {
			t.Errorf("rejected[%d]: got field %q reason %q, want field %q and a reason", rj.Index, rj.Field, rj.Reason, want[rj.Index])
		}
	}
	if got, want := got.Error.Rejected[0].MessageID, "bad-1"; got != want {
		t.Errorf("rejected messageId: got %q, want %q", got, want)
	}
	fields := map[string]bool{}
	for _, v := range got.Error.FieldViolations {
		fields[v.Field] = true
	}
	for _, f := range []string{"batch[1].type", "batch[3].event_id", "batch[4].userId", "batch[5].properties", "batch[6].body"} {
		if !fields[f] {
			t.Errorf("field_violations: got %v, want one named %s", fields, f)
		}
	}
	if n := len(pub.Calls()); n != 0 {
		t.Errorf("Publish calls: got %d, want 0 (the batch is refused whole)", n)
	}
}

// blockingProcessor holds every Process call until release is closed.
type blockingProcessor struct {
	entered chan struct{}
	release chan struct{}
}

func (b blockingProcessor) Process(ctx context.Context, events []*eventv1.Event) (pipeline.Result, error) {
	b.entered <- struct{}{}
	<-b.release
	return pipeline.Result{Duplicate: make([]bool, len(events))}, nil
}

func (blockingProcessor) Check([]*eventv1.Event) ([]*pipeline.InvalidError, error) { return nil, nil }

func TestOverloadIs429(t *testing.T) {
	t.Parallel()
	proc := blockingProcessor{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := httpapi.New(proc, map[string]string{"wk": "web"}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		httpapi.WithLimiter(inflight.New(1, 1<<20)))
	done := make(chan int, 1)
	go func() {
		done <- serve(t, h, request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X","userId":"u1"}`)}).Code
	}()
	<-proc.entered
	w := serve(t, h, request{path: "/v1/batch", basicKey: "wk", body: []byte(`{"batch":[{"type":"track","event":"X","userId":"u1"}]}`)})
	checkError(t, w, http.StatusTooManyRequests, "resource_exhausted", "")
	if got := w.Header().Get("Retry-After"); got == "" {
		t.Errorf("Retry-After: got empty, want a delay")
	}
	close(proc.release)
	if got := <-done; got != http.StatusOK {
		t.Errorf("admitted request: got %d, want 200", got)
	}
	// The slot is free again (release is closed: Process returns at once).
	if w := serve(t, h, request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X","userId":"u1"}`)}); w.Code != http.StatusOK {
		t.Errorf("after release: got %d, want 200", w.Code)
	}
}

func TestDuplicatesAreSuccess(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	for range 2 {
		assertSuccess(t, serve(t, h, request{path: "/v1/track", basicKey: "wk", body: []byte(`{"event":"X","userId":"u1","messageId":"same"}`)}))
	}
}
