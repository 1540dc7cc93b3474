// Package storetest helps test code that uses package store: it opens a store on an
// embedded Redis (miniredis) or on a real Redis database, and holds the contract suite
// every Redis the store runs on must pass ([RunContract]). Helpers register their cleanup
// with t.Cleanup.
package storetest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/devstack"
	"github.com/stratahq/strata/services/profile/store"
)

// Embedded returns a store on a fresh embedded Redis and that Redis' address.
func Embedded(t testing.TB) (*store.Store, string) {
	t.Helper()
	r, err := devstack.StartRedis()
	if err != nil {
		t.Fatalf("storetest: start redis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return Open(t, cache.Config{Addrs: []string{r.Addr()}}), r.Addr()
}

// Open returns a store on the Redis cfg names, closed when the test ends.
func Open(t testing.TB, cfg cache.Config) *store.Store {
	t.Helper()
	rdb, err := cache.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("storetest: open redis: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return store.New(rdb)
}

// Flush empties the store's Redis database; only for databases a test owns.
func Flush(t testing.TB, s *store.Store) {
	t.Helper()
	if err := s.Client().(interface {
		FlushDB(context.Context) *redis.StatusCmd
	}).FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("storetest: flush: %v", err)
	}
}
