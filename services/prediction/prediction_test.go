package prediction_test

import (
	"errors"
	"testing"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
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
