package ingest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/devstack"
	"github.com/stratahq/strata/pkg/server"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest"
	"github.com/stratahq/strata/services/ingest/ingesttest"
)

func TestScenariosEmbedded(t *testing.T) {
	t.Parallel()
	runScenarios(t, ingesttest.Embedded(t))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() ingest.Config {
		c := ingest.DefaultConfig()
		c.Kafka = bus.Config{Brokers: []string{"127.0.0.1:9092"}}
		c.Redis.Addrs = []string{"127.0.0.1:6379"}
		c.WriteKeys = map[string]string{"k": "web"}
		return c
	}
	tests := []struct {
		name string
		edit func(*ingest.Config)
		want error
	}{
		{"valid", func(*ingest.Config) {}, nil},
		{"no write keys", func(c *ingest.Config) { c.WriteKeys = nil }, ingest.ErrNoWriteKeys},
		{"no brokers", func(c *ingest.Config) { c.Kafka.Brokers = nil }, bus.ErrMissingBrokers},
		{"no redis", func(c *ingest.Config) { c.Redis.Addrs = nil }, cache.ErrMissingAddrs},
		{"negative limit", func(c *ingest.Config) { c.MaxInFlightBytes = -1 }, ingest.ErrInvalidLimits},
		{"no addresses", func(c *ingest.Config) { c.Server = server.Config{ShutdownTimeout: 1} }, server.ErrMissingGRPCAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Validate: got %v, want nil", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Validate: got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestKafkaDownIs503 stops the broker under a running ingest: clients hear 503 and
// Unavailable with a retry delay, within the publish timeout, and nothing is acknowledged.
func TestKafkaDownIs503(t *testing.T) {
	t.Parallel()
	k, err := devstack.StartKafka(t.Context(), devstack.KafkaConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := devstack.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	inst := ingesttest.Start(t, ingesttest.Stack{Brokers: k.Brokers(), RedisAddr: r.Addr()}, func(c *ingest.Config) {
		c.PublishTimeout = time.Second
		c.DisableRawConsumer = true
	})
	if code, body := postJSON(t, inst.URL()+"/v1/track", []byte(`{"userId":"u1","event":"Lesson Started"}`)); code != http.StatusOK {
		t.Fatalf("with Kafka up: got %d %v, want 200", code, body)
	}
	_ = k.Close()

	req, _ := http.NewRequest(http.MethodPost, inst.URL()+"/v1/batch", strings.NewReader(`{"batch":[{"type":"track","userId":"u1","event":"Lesson Started"}]}`))
	req.SetBasicAuth(ingesttest.WriteKey, "")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("with Kafka down: got %d Retry-After %q, want 503 with a delay", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answer took %v, want it bounded by the publish timeout", d)
	}
	_, err = dial(t, inst.GRPC).Ingest(context.Background(), &ingestv1.IngestRequest{Event: &eventv1.Event{
		EventId: "e2", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "X", UserId: "u1", Timestamp: timestamppb.Now(),
	}})
	if got, want := status.Code(err), codes.Unavailable; got != want {
		t.Errorf("gRPC with Kafka down: got %v, want %v", got, want)
	}
}
