package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"ok", Config{ServiceName: "s", SampleRatio: 1}, nil},
		{"no name", Config{SampleRatio: 1}, ErrMissingServiceName},
		{"bad ratio", Config{ServiceName: "s", SampleRatio: 2}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			switch {
			case tt.want == nil && err != nil, tt.want != nil && err == nil:
				t.Errorf("Validate(%+v): got %v, want %v", tt.cfg, err, tt.want)
			case tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Errorf("Validate(%+v): got %v, want %v", tt.cfg, err, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestSetup installs the globals, so it does not run in parallel.
func TestSetup(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: 1, SpanProcessor: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()

	_, span := otel.Tracer("t").Start(context.Background(), "work")
	span.End()
	if got := len(rec.Ended()); got != 1 {
		t.Errorf("recorded spans: got %d, want 1", got)
	}

	carrier := propagation.MapCarrier{}
	ctx, span2 := otel.Tracer("t").Start(context.Background(), "outgoing")
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	span2.End()
	if carrier.Get("traceparent") == "" {
		t.Errorf("global propagator wrote no traceparent: %v", carrier)
	}

	counter, err := otel.Meter("t").Int64Counter("strata_test_total")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3)
	rr := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rr.Body)
	if !strings.Contains(string(body), "strata_test_total") {
		t.Errorf("/metrics does not expose the counter:\n%s", body)
	}
}
