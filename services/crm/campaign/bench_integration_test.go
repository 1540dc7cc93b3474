//go:build integration

package campaign_test

import (
	"testing"

	"github.com/stratahq/strata/services/crm/store/storetest"
)

func BenchmarkLaunchPostgres(b *testing.B) { benchmarkLaunch(b, storetest.Postgres(b)) }
