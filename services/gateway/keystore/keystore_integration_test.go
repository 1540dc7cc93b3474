//go:build integration

package keystore_test

import (
	"sync"
	"testing"

	"github.com/stratahq/strata/services/gateway/keystore"
	"github.com/stratahq/strata/services/gateway/keystore/keystoretest"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	runContract(t, keystoretest.Postgres(t))
}

// TestPostgresConcurrentOpen starts several stores on one empty database at once, as
// gateway replicas do: the migration lock lets one migrate and the others wait.
func TestPostgresConcurrentOpen(t *testing.T) {
	t.Parallel()
	cfg := keystoretest.Postgres(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := keystore.Open(t.Context(), cfg)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
}
