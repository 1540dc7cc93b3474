package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/services/ingest/ledger"
)

func miniRedis(t *testing.T) (*miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	srv := miniredis.RunT(t)
	// No retries and a short dial timeout: the down tests fail fast.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	return srv, rdb
}

func TestContractMiniredis(t *testing.T) {
	t.Parallel()
	_, rdb := miniRedis(t)
	runContract(t, rdb)
}

func TestLookupNothing(t *testing.T) {
	t.Parallel()
	srv, rdb := miniRedis(t)
	srv.Close() // nothing to ask: no round trip, so no error either
	snap, err := ledger.New(rdb, ledger.Config{}).Lookup(context.Background(), nil, nil)
	if err != nil || len(snap.Seen) != 0 {
		t.Errorf("Lookup(nothing): got %v, %v; want an empty snapshot", snap, err)
	}
	if err := ledger.New(rdb, ledger.Config{}).Record(context.Background(), ledger.Changes{}); err != nil {
		t.Errorf("Record(nothing): got %v, want nil", err)
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv, rdb := miniRedis(t)
	srv.Close()
	l := ledger.New(rdb, ledger.Config{})
	ctx := context.Background()
	if _, err := l.Lookup(ctx, []ledger.Key{{Sender: "u", MessageID: "m"}}, nil); err == nil {
		t.Errorf("Lookup with Redis down: got nil error")
	}
	if err := l.Record(ctx, ledger.Changes{Published: []ledger.Key{{Sender: "u", MessageID: "m"}}}); err == nil {
		t.Errorf("Record with Redis down: got nil error")
	}
	if err := l.Ping(ctx); err == nil {
		t.Errorf("Ping with Redis down: got nil error")
	}
}
