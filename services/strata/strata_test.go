package strata_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratahq/strata/pkg/telemetry"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/updater"
	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/suitetest"
)

func TestEndToEndEmbedded(t *testing.T) {
	s := suitetest.Start(t, strata.Config{})
	suitetest.RunEndToEnd(t, s)
}

// TestTraceContinuity checks that one trace follows an event from the gateway's HTTP
// request through ingest, Kafka and the profile update: the profile-update span has the
// ingest HTTP span as an ancestor. It installs the global tracer provider, so it does not
// run in parallel.
func TestTraceContinuity(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "strata-test", SampleRatio: 1, SpanProcessor: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	s := suitetest.Start(t, strata.Config{})
	user := suitetest.UserID("trace")
	code, body := s.Segment(t, "/v1/track", []byte(`{"userId":"`+user+`","event":"Lesson Started"}`))
	if code != http.StatusOK {
		t.Fatalf("track: got %d %v", code, body)
	}
	client := profilev1.NewProfileServiceClient(s.Conn)
	suitetest.Eventually(t, 30*time.Second, "profile", func() bool {
		_, err := client.GetProfile(s.Admin(context.Background()), &profilev1.GetProfileRequest{UserId: user})
		return err == nil
	})

	var update sdktrace.ReadOnlySpan
	suitetest.Eventually(t, 10*time.Second, "profile update span", func() bool {
		for _, sp := range rec.Ended() {
			if sp.Name() == updater.SpanName && hasAttr(sp, "strata.event_id") {
				update = sp
				return true
			}
		}
		return false
	})
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		if sp.SpanContext().TraceID() == update.SpanContext().TraceID() {
			byID[sp.SpanContext().SpanID()] = sp
		}
	}
	var chain []string
	sawIngestHTTP, sawProducer, sawConsumer := false, false, false
	for sp := update; sp != nil; {
		chain = append(chain, sp.Name()+"("+sp.SpanKind().String()+","+service(sp)+")")
		switch {
		case sp.SpanKind() == trace.SpanKindServer && service(sp) == "ingest":
			sawIngestHTTP = true
		case sp.SpanKind() == trace.SpanKindProducer:
			sawProducer = true
		case sp.SpanKind() == trace.SpanKindConsumer:
			sawConsumer = true
		}
		parent, ok := byID[sp.Parent().SpanID()]
		if !sp.Parent().IsValid() || !ok {
			break
		}
		sp = parent
	}
	t.Logf("ancestry: %s", strings.Join(chain, " <- "))
	if !sawIngestHTTP || !sawProducer || !sawConsumer {
		t.Errorf("profile update ancestry %v: got ingest HTTP %v, producer %v, consumer %v; want all true",
			chain, sawIngestHTTP, sawProducer, sawConsumer)
	}
	if root := chain[len(chain)-1]; !strings.Contains(root, "gateway") {
		t.Errorf("trace root: got %s, want the gateway's HTTP span", root)
	}
}

func hasAttr(sp sdktrace.ReadOnlySpan, key string) bool {
	for _, a := range sp.Attributes() {
		if string(a.Key) == key {
			return true
		}
	}
	return false
}

func service(sp sdktrace.ReadOnlySpan) string {
	for _, a := range sp.Attributes() {
		if a.Key == attribute.Key("strata.service") {
			return a.Value.AsString()
		}
	}
	return ""
}
