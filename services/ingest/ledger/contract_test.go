package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/services/ingest/ledger"
)

func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// runContract is the contract of the ledger, run against miniredis and real Redis, with
// the dedup keys of a batch in one script and one command per key (as on a cluster).
func runContract(t *testing.T, rdb redis.UniversalClient) {
	for _, perKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("per-key commands %v", perKey), func(t *testing.T) {
			newLedger := func(cfg ledger.Config) *ledger.Ledger {
				cfg.PerKeyCommands = perKey
				return ledger.New(rdb, cfg)
			}
			t.Run("dedup window", func(t *testing.T) { testDedup(t, rdb, newLedger) })
			t.Run("identity", func(t *testing.T) { testIdentity(t, rdb, newLedger) })
			t.Run("merge done only when recorded", func(t *testing.T) { testMergeRecorded(t, newLedger) })
			t.Run("forget user", func(t *testing.T) { testForgetUser(t, newLedger) })
		})
	}
}

// newLedgerFunc returns a Ledger of the variant under test.
type newLedgerFunc func(ledger.Config) *ledger.Ledger

func testDedup(t *testing.T, rdb redis.UniversalClient, newLedger newLedgerFunc) {
	ctx := context.Background()
	l := newLedger(ledger.Config{DedupWindow: time.Hour})
	user := unique("u")
	k1 := ledger.Key{Sender: user, Source: "web", MessageID: "m1"}
	k2 := ledger.Key{Sender: user, Source: "ios", MessageID: "m1"} // same id, other source
	snap, err := l.Lookup(ctx, []ledger.Key{k1, k2}, nil)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if snap.Seen[0] || snap.Seen[1] {
		t.Fatalf("Seen before Record: got %v, want none", snap.Seen)
	}
	if err := l.Record(ctx, ledger.Changes{Published: []ledger.Key{k1}}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	snap, err = l.Lookup(ctx, []ledger.Key{k1, k2}, nil)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got, want := snap.Seen, []bool{true, false}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Seen after Record: got %v, want %v", got, want)
	}
	ttl, err := rdb.TTL(ctx, cache.IngestDedupKey(user, "web", "m1")).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("dedup key TTL: got %v (%v), want about the 1h window", ttl, err)
	}
	// Recording again (a racing duplicate) keeps the first window.
	if err := rdb.Expire(ctx, cache.IngestDedupKey(user, "web", "m1"), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, ledger.Changes{Published: []ledger.Key{k1}}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if ttl, _ := rdb.TTL(ctx, cache.IngestDedupKey(user, "web", "m1")).Result(); ttl > time.Minute {
		t.Errorf("TTL after a second Record: got %v, want the first window kept (SET NX)", ttl)
	}
}

func testIdentity(t *testing.T, rdb redis.UniversalClient, newLedger newLedgerFunc) {
	ctx := context.Background()
	l := newLedger(ledger.Config{IdentityTTL: time.Hour})
	anon, fresh, u1, u2 := unique("a"), unique("a"), unique("u"), unique("u")
	ops := []ledger.Op{
		{Kind: ledger.OpSeen, Anon: anon},            // anonymous history
		{Kind: ledger.OpLink, Anon: anon, User: u1},  // joins u1: merge due
		{Kind: ledger.OpSeen, Anon: anon},            // now resolves to u1
		{Kind: ledger.OpLink, Anon: fresh, User: u1}, // no history: no merge
		{Kind: ledger.OpLink, Anon: anon, User: u2},  // relinked; merge still due until recorded
		{Kind: ledger.OpSeen, Anon: anon},            // latest link wins
	}
	snap, err := l.Lookup(ctx, nil, ops)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got, want := snap.Linked, []string{"", "", u1, "", "", u2}; !equal(got, want) {
		t.Errorf("Linked: got %q, want %q", got, want)
	}
	if got, want := snap.Merge, []bool{false, true, false, false, true, false}; !equalB(got, want) {
		t.Errorf("Merge: got %v, want %v", got, want)
	}
	ttl, err := rdb.TTL(ctx, cache.IngestAnonKey(anon)).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("anon key TTL: got %v (%v), want about 1h", ttl, err)
	}
}

func testMergeRecorded(t *testing.T, newLedger newLedgerFunc) {
	ctx := context.Background()
	l := newLedger(ledger.Config{})
	anon, user := unique("a"), unique("u")
	link := []ledger.Op{{Kind: ledger.OpSeen, Anon: anon}, {Kind: ledger.OpLink, Anon: anon, User: user}}
	for attempt := range 2 { // the publish failed: the retry merges again
		snap, err := l.Lookup(ctx, nil, link)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if !snap.Merge[1] {
			t.Fatalf("attempt %d: merge not due before Record", attempt)
		}
	}
	if err := l.Record(ctx, ledger.Changes{Merged: []ledger.Link{{Anon: anon, User: user}}}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	snap, err := l.Lookup(ctx, nil, link[1:])
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if snap.Merge[0] {
		t.Errorf("merge due again after it was recorded")
	}
	if err := l.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalB(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testForgetUser erases a user's links and dedup entries and nobody else's, and is
// idempotent.
func testForgetUser(t *testing.T, newLedger newLedgerFunc) {
	ctx := context.Background()
	l := newLedger(ledger.Config{DedupWindow: time.Hour})
	// The user's id holds glob characters: the dedup scan must match it literally.
	user, other := unique("u*["), unique("u")
	anon1, anon2, anonOther := unique("a"), unique("a"), unique("a")
	ops := []ledger.Op{{Kind: ledger.OpLink, Anon: anon1, User: user}, {Kind: ledger.OpLink, Anon: anon2, User: user},
		{Kind: ledger.OpLink, Anon: anonOther, User: other}}
	keys := []ledger.Key{{Sender: user, Source: "web", MessageID: "m1"}, {Sender: other, Source: "web", MessageID: "m1"}}
	if _, err := l.Lookup(ctx, nil, ops); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if err := l.Record(ctx, ledger.Changes{Published: keys}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	for i, want := range []int{3, 0} { // two links and one dedup key, then nothing
		n, err := l.ForgetUser(ctx, user)
		if err != nil || n != want {
			t.Errorf("ForgetUser #%d: got %d, %v; want %d, nil", i+1, n, err, want)
		}
	}
	seen := []ledger.Op{{Kind: ledger.OpSeen, Anon: anon1}, {Kind: ledger.OpSeen, Anon: anon2}, {Kind: ledger.OpSeen, Anon: anonOther}}
	snap, err := l.Lookup(ctx, keys, seen)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got, want := snap.Linked, []string{"", "", other}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("links after ForgetUser: got %q, want %q", got, want)
	}
	if got, want := snap.Seen, []bool{false, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dedup after ForgetUser: got %v, want %v", got, want)
	}
}
