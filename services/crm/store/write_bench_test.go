package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratahq/strata/services/crm/store"
	"github.com/stratahq/strata/services/crm/store/storetest"
)

// benchmarkOrderWrites measures what the consumer writes for an order event (the
// customer's activity month, the order), roll-ups included: 1,000 users, each event in
// a new month for its user every 1,000 events.
func benchmarkOrderWrites(b *testing.B, cfg store.Config) {
	ctx := context.Background()
	s, err := store.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	start := time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		u := fmt.Sprintf("wb-u%04d", i%1000)
		at := start.AddDate(0, i/1000, 0)
		_, err := s.Apply(ctx, store.Position{Topic: "t.write-bench", Offset: int64(i)}, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.TouchCustomer(ctx, u, at); err != nil {
				return err
			}
			_, err := tx.AddOrder(ctx, store.Order{OrderID: fmt.Sprintf("wb-o%d", i), UserID: u, EventID: fmt.Sprintf("wb-e%d", i), At: at,
				RevenueMinor: 1000, Currency: "CNY"})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkOrderWritesSQLite(b *testing.B) { benchmarkOrderWrites(b, storetest.SQLite(b)) }
