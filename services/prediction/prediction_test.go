package prediction_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/config"
	"github.com/stratahq/strata/services/prediction"
	"github.com/stratahq/strata/services/prediction/model"
)

func TestScenarioEmbedded(t *testing.T) {
	t.Parallel()
	runScenario(t, bustest.Brokers(t))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := prediction.DefaultConfig()
	ok.Kafka = bus.Config{Brokers: []string{"127.0.0.1:9092"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: got %v", err)
	}
	noBrokers := prediction.DefaultConfig()
	if err := noBrokers.Validate(); !errors.Is(err, bus.ErrMissingBrokers) {
		t.Errorf("no brokers: got %v, want ErrMissingBrokers", err)
	}
	badLearner := ok
	badLearner.Scoring.Learner = "svm"
	if err := badLearner.Validate(); !errors.Is(err, model.ErrUnknownLearner) {
		t.Errorf("unknown learner: got %v, want ErrUnknownLearner", err)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("STRATA_KAFKA_BROKERS", "127.0.0.1:9092")
	t.Setenv("STRATA_PREDICTION_MODEL_DIR", "/var/lib/strata/models")
	t.Setenv("STRATA_PREDICTION_LEARNER", "random_forest")
	t.Setenv("STRATA_PREDICTION_DEBOUNCE", "3s")
	cfg := prediction.DefaultConfig()
	if err := config.Load(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Registry.Dir != "/var/lib/strata/models" || cfg.Scoring.Learner != model.RandomForest || cfg.Scoring.Debounce != 3*time.Second {
		t.Errorf("got registry %+v, learner %q, debounce %v", cfg.Registry, cfg.Scoring.Learner, cfg.Scoring.Debounce)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
