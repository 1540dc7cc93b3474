//go:build integration

package store_test

import (
	"testing"

	"github.com/stratahq/strata/services/crm/store/storetest"
)

func BenchmarkOrderWritesPostgres(b *testing.B) { benchmarkOrderWrites(b, storetest.Postgres(b)) }
