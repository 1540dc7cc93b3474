package bus_test

import (
	"testing"

	"github.com/stratahq/strata/pkg/bustest"
)

func TestConsumerContractEmbedded(t *testing.T) {
	t.Parallel()
	bustest.RunConsumerContract(t, bustest.Brokers(t))
}
