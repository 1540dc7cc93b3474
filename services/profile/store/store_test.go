package store_test

import (
	"testing"

	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
)

func TestContractEmbedded(t *testing.T) {
	t.Parallel()
	storetest.RunContract(t, func(t *testing.T) *store.Store {
		s, _ := storetest.Embedded(t)
		return s
	})
}
