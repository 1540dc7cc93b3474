package bus_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
)

func TestEnsureTopicsEmbedded(t *testing.T) {
	t.Parallel()
	testEnsureTopics(t, bustest.Brokers(t))
}

// testEnsureTopics runs against any cluster: it creates uniquely named topics
// and checks their partitions and configs.
func testEnsureTopics(t *testing.T, brokers []string) {
	t.Helper()
	specs := []topics.Spec{
		{Name: bustest.Name(t, "strata.test"), Partitions: 3, Retention: time.Hour, CleanupPolicy: topics.Delete},
		{Name: bustest.Name(t, "strata.test"), Partitions: 2, Retention: topics.Forever, CleanupPolicy: topics.Compact},
	}
	cfg := bus.Config{Brokers: brokers, Logger: bustest.Logger(t)}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range 2 { // the second call finds them existing
		if err := bus.EnsureTopics(ctx, cfg, specs...); err != nil {
			t.Fatalf("EnsureTopics call %d: %v", i+1, err)
		}
	}

	client := bustest.Client(t, brokers)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{specs[0].Name, specs[1].Name}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	parts := map[string]int{}
	for _, tp := range md.Topics {
		parts[tp.Name] = len(tp.Partitions)
	}
	for _, s := range specs {
		if got := parts[s.Name]; got != s.Partitions {
			t.Errorf("topic %s: got %d partitions, want %d", s.Name, got, s.Partitions)
		}
	}

	var resources []kafka.DescribeConfigRequestResource
	for _, s := range specs {
		resources = append(resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name,
			ConfigNames: []string{"cleanup.policy", "retention.ms"},
		})
	}
	dc, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: resources})
	if err != nil {
		t.Fatalf("DescribeConfigs: %v", err)
	}
	got := map[string]map[string]string{}
	for _, r := range dc.Resources {
		got[r.ResourceName] = map[string]string{}
		for _, e := range r.ConfigEntries {
			got[r.ResourceName][e.ConfigName] = e.ConfigValue
		}
	}
	for _, s := range specs {
		for k, want := range s.Configs() {
			if g := got[s.Name][k]; g != want {
				t.Errorf("topic %s: got %s=%q, want %q", s.Name, k, g, want)
			}
		}
	}
}

func TestEnsureTopicsOverridesPartitions(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	name := bustest.Name(t, "strata.test")
	cfg := bus.Config{Brokers: brokers, Partitions: 1}
	if err := bus.EnsureTopics(t.Context(), cfg, topics.Spec{Name: name, Partitions: 6}); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	client := bustest.Client(t, brokers)
	md, err := client.Metadata(t.Context(), &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Topics) != 1 {
		t.Fatalf("got %d topics, want 1", len(md.Topics))
	}
	if got, want := len(md.Topics[0].Partitions), 1; got != want {
		t.Errorf("got %d partitions, want %d (Config.Partitions overrides the spec)", got, want)
	}
}

func TestEnsureTopicsSuite(t *testing.T) {
	t.Parallel()
	cfg := bus.Config{Brokers: bustest.Brokers(t)}
	if err := bus.EnsureTopics(t.Context(), cfg, topics.All()...); err != nil {
		t.Fatalf("EnsureTopics(all): %v", err)
	}
}

func TestEnsureTopicsUnreachable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: take one and release it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	cfg := bus.Config{Brokers: []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port))}}
	if err := bus.EnsureTopics(ctx, cfg, topics.Spec{Name: "strata.test.x", Partitions: 1}); err == nil {
		t.Errorf("EnsureTopics against a closed port: got nil error, want one")
	}
}

func TestEnsureTopicsInvalidConfig(t *testing.T) {
	t.Parallel()
	err := bus.EnsureTopics(t.Context(), bus.Config{}, topics.All()...)
	if !errors.Is(err, bus.ErrMissingBrokers) {
		t.Errorf("got %v, want ErrMissingBrokers", err)
	}
}
