package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceIDsAdded(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := New(&buf, Config{Level: "info", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "hello", "k", "v")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("decode %q: %v", buf.String(), err)
	}
	if got, want := rec["trace_id"], sc.TraceID().String(); got != want {
		t.Errorf("trace_id: got %v, want %v", got, want)
	}
	if got, want := rec["span_id"], sc.SpanID().String(); got != want {
		t.Errorf("span_id: got %v, want %v", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad level", Config{Level: "loud", Format: "json"}},
		{"bad format", Config{Level: "info", Format: "xml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(&bytes.Buffer{}, tt.cfg); err == nil {
				t.Errorf("New(%+v): got nil error, want one", tt.cfg)
			}
		})
	}
}
