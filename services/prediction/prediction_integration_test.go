//go:build integration

package prediction_test

import (
	"os"
	"testing"

	"github.com/stratahq/strata/pkg/bus"
)

// TestScenarioRealKafka runs the consume → score → publish scenario against real
// Kafka, as provisioned by scripts/infra (make check).
func TestScenarioRealKafka(t *testing.T) {
	t.Parallel()
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	if len(brokers) == 0 {
		t.Fatalf("%s must be set: eval \"$(scripts/infra env)\"", bus.EnvBrokers)
	}
	runScenario(t, brokers)
}
