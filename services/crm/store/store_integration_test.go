//go:build integration

package store_test

import (
	"testing"

	"github.com/stratahq/strata/services/crm/store/storetest"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	runContract(t, storetest.Postgres(t))
}
