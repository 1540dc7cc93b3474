//go:build integration

package bus_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
)

func realBrokers(t *testing.T) []string {
	t.Helper()
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	if len(brokers) == 0 {
		t.Fatalf("%s is not set; start real Kafka with scripts/infra and export its env", bus.EnvBrokers)
	}
	return brokers
}

func TestConsumerContractKafka(t *testing.T) {
	t.Parallel()
	bustest.RunConsumerContract(t, realBrokers(t))
}

func TestEnsureTopicsKafka(t *testing.T) {
	t.Parallel()
	testEnsureTopics(t, realBrokers(t))
}

// TestEnsureSuiteTopicsKafka creates the suite's own topics, as services do
// at start-up, and checks that doing it again is harmless.
func TestEnsureSuiteTopicsKafka(t *testing.T) {
	t.Parallel()
	cfg := bus.Config{Brokers: realBrokers(t), Logger: bustest.Logger(t)}
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		err := bus.EnsureTopics(ctx, cfg, topics.All()...)
		cancel()
		if err != nil {
			t.Fatalf("EnsureTopics(all): %v", err)
		}
	}
}
