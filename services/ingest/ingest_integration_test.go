//go:build integration

package ingest_test

import (
	"testing"

	"github.com/stratahq/strata/services/ingest/ingesttest"
)

// TestScenariosReal runs the service scenarios against real Kafka and Redis, as
// provisioned by scripts/infra (make check).
func TestScenariosReal(t *testing.T) {
	t.Parallel()
	runScenarios(t, ingesttest.Real(t))
}
