// Package ledger is ingest's memory in Redis, shared by every ingest instance: the dedup
// window of published (source, messageId) pairs and the identity map from anonymous ids
// to the user they belong to.
//
// The pipeline asks once per batch ([Ledger.Lookup], one pipelined round trip whatever the
// batch size: dedup checks and identity operations, the latter as small Lua scripts, each
// on one key) and records once per batch after Kafka acknowledged the write
// ([Ledger.Record], one more: dedup keys and completed merges). On a single Redis the dedup
// keys of a batch are checked, and recorded, by one script each; on a Redis Cluster, where
// they span slots, by one command per key. Keys are built by package cache and carry the sender's id
// in a {hash tag}; on a Redis Cluster go-redis splits a pipeline by node.
//
// Redis holds nothing else the suite cannot rebuild; these keys are the exception named in
// DESIGN.md: losing them reopens the dedup window (a retried message may be published
// twice, which consumers tolerate) and forgets identity links until the next
// identify or alias call. A Ledger is safe for concurrent use.
package ledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/cache"
)

// Defaults of Config.
const (
	// DefaultDedupWindow is how long a published messageId is remembered (Segment: 24h).
	DefaultDedupWindow = 24 * time.Hour
	// DefaultIdentityTTL is how long an anonymous id is remembered after it was last
	// linked or seen.
	DefaultIdentityTTL = 365 * 24 * time.Hour
)

// An anonymous id's key is a hash: "user" is the user it is linked to, "history" is set
// once events were published keyed by the id itself, "merged" names the user its history
// was merged into (the merge event is in Kafka).
const fieldMerged = "merged"

// seenScript runs for an event that carries only an anonymous id: it returns the user the
// id is linked to, or "" after noting that the id has a history of its own.
var seenScript = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'user')
if not u then
  redis.call('HSET', KEYS[1], 'history', '1')
  u = ''
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return u`)

// linkScript links an anonymous id to a user (the latest link wins) and returns 1 when the
// id has a history that was never merged into a user.
var linkScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'user', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'history', 'merged')
if h[1] and not h[2] then return 1 end
return 0`)

// dedupSeenScript answers, for every dedup key of a batch, whether it exists (1 or 0):
// one command instead of one per key, which was most of the cost of a lookup.
var dedupSeenScript = redis.NewScript(`
local seen = {}
for i, k in ipairs(KEYS) do seen[i] = redis.call('EXISTS', k) end
return seen`)

// dedupRecordScript sets every dedup key of a batch that is absent, with the window
// (ARGV[1], milliseconds) as TTL.
var dedupRecordScript = redis.NewScript(`
for _, k in ipairs(KEYS) do redis.call('SET', k, '1', 'NX', 'PX', ARGV[1]) end
return 0`)

// Config tunes a Ledger; zero fields take the defaults.
type Config struct {
	DedupWindow time.Duration
	IdentityTTL time.Duration
	// PerKeyCommands sends one command per dedup key instead of one script per batch, as
	// a Redis Cluster needs: the keys of a batch's senders live in different slots. New
	// turns it on for a *redis.ClusterClient.
	PerKeyCommands bool
}

// Ledger reads and writes the dedup window and the identity map.
type Ledger struct {
	rdb         redis.UniversalClient
	window, ttl time.Duration
	perKey      bool
}

// New returns a Ledger over rdb.
func New(rdb redis.UniversalClient, cfg Config) *Ledger {
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	if cfg.IdentityTTL <= 0 {
		cfg.IdentityTTL = DefaultIdentityTTL
	}
	_, cluster := rdb.(*redis.ClusterClient)
	return &Ledger{rdb: rdb, window: cfg.DedupWindow, ttl: cfg.IdentityTTL, perKey: cfg.PerKeyCommands || cluster}
}

// names returns the Redis keys of keys.
func names(keys []Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

// Key names one event in the dedup window.
type Key struct {
	// Sender is the event's userId as sent, else its anonymousId.
	Sender    string
	Source    string
	MessageID string
}

func (k Key) String() string { return cache.IngestDedupKey(k.Sender, k.Source, k.MessageID) }

// OpKind says what an Op does to an anonymous id.
type OpKind int

// Kinds of Op.
const (
	// OpSeen is an event that carries only an anonymous id: resolve it to its user, or
	// note that the id has a history of its own.
	OpSeen OpKind = iota + 1
	// OpLink is an identify or alias call: link the id to the user.
	OpLink
)

// Op is one identity operation of a batch.
type Op struct {
	Kind OpKind
	// Anon is the anonymous (or previous) id; User the user of an OpLink.
	Anon, User string
}

// Snapshot is the answer of Lookup.
type Snapshot struct {
	// Seen[i] reports whether keys[i] is in the dedup window.
	Seen []bool
	// Linked[j] is, for an OpSeen ops[j], the user its id is linked to ("" if none).
	Linked []string
	// Merge[j] reports, for an OpLink ops[j], that the id has a history never merged into
	// a user: a merge event is due.
	Merge []bool
}

// Lookup reports which keys are in the dedup window and applies ops to the identity map
// in order, in one pipelined round trip.
//
// Identity operations take effect at once, before the batch is published: a concurrent
// batch then sees a link or a history as soon as this one does, so no interleaving of two
// requests about one anonymous id loses a merge. If the publish fails, what stays is
// harmless: a link the client asserted (its retry asserts it again) or a history flag,
// which at worst merges an empty history. Merges are marked done only by Record.
func (l *Ledger) Lookup(ctx context.Context, keys []Key, ops []Op) (Snapshot, error) {
	snap := Snapshot{Seen: make([]bool, len(keys)), Linked: make([]string, len(ops)), Merge: make([]bool, len(ops))}
	if len(keys) == 0 && len(ops) == 0 {
		return snap, nil
	}
	var (
		exists  []*redis.IntCmd // per key, or
		seenAll *redis.Cmd      // one script for the batch
	)
	results := make([]*redis.Cmd, len(ops))
	ttl := strconv.FormatInt(l.ttl.Milliseconds(), 10)
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		switch {
		case l.perKey:
			exists = make([]*redis.IntCmd, len(keys))
			for i, k := range keys {
				exists[i] = p.Exists(ctx, k.String())
			}
		case len(keys) > 0:
			seenAll = dedupSeenScript.Eval(ctx, p, names(keys))
		}
		for j, op := range ops {
			key := []string{cache.IngestAnonKey(op.Anon)}
			switch op.Kind {
			case OpSeen:
				results[j] = seenScript.Eval(ctx, p, key, ttl)
			case OpLink:
				results[j] = linkScript.Eval(ctx, p, key, op.User, ttl)
			default:
				return fmt.Errorf("ledger: unknown op kind %d", op.Kind)
			}
		}
		return nil
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("ledger: lookup: %w", err)
	}
	for i, c := range exists {
		snap.Seen[i] = c.Val() > 0
	}
	if seenAll != nil {
		seen, err := seenAll.Int64Slice()
		if err != nil || len(seen) != len(keys) {
			return Snapshot{}, fmt.Errorf("ledger: lookup: dedup script answered %v (%d of %d keys)", err, len(seen), len(keys))
		}
		for i, n := range seen {
			snap.Seen[i] = n > 0
		}
	}
	for j, c := range results {
		switch ops[j].Kind {
		case OpSeen:
			snap.Linked[j], _ = c.Val().(string)
		case OpLink:
			n, _ := c.Val().(int64)
			snap.Merge[j] = n == 1
		}
	}
	return snap, nil
}

// Link is an anonymous id and the user it belongs to.
type Link struct{ Anon, User string }

// Changes is what Record stores after Kafka acknowledged a batch.
type Changes struct {
	// Published are the events Kafka acknowledged.
	Published []Key
	// Merged are the anonymous histories whose merge event Kafka acknowledged.
	Merged []Link
}

// Empty reports whether c records nothing.
func (c Changes) Empty() bool { return len(c.Published) == 0 && len(c.Merged) == 0 }

// Record stores c in one pipelined round trip. Dedup keys are set only if absent (SET NX)
// with the dedup window as TTL, so a key's window runs from the first publish.
func (l *Ledger) Record(ctx context.Context, c Changes) error {
	if c.Empty() {
		return nil
	}
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		switch {
		case l.perKey:
			for _, k := range c.Published {
				p.SetNX(ctx, k.String(), 1, l.window)
			}
		case len(c.Published) > 0:
			dedupRecordScript.Eval(ctx, p, names(c.Published), l.window.Milliseconds())
		}
		for _, m := range c.Merged {
			p.HSetNX(ctx, cache.IngestAnonKey(m.Anon), fieldMerged, m.User)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: record: %w", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (l *Ledger) Ping(ctx context.Context) error {
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ledger: ping: %w", err)
	}
	return nil
}

// forgetScript deletes an anonymous id's key when it is linked to, or was merged into,
// the user ARGV[1]; returns 1 when deleted.
var forgetScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'user', 'merged')
if h[1] == ARGV[1] or h[2] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// forgetScanBatch is how many keys one SCAN step of ForgetUser asks for.
const forgetScanBatch = 1000

// ForgetUser erases what the ledger holds on userID (the right to erasure): every
// anonymous id linked to or merged into the user, and the user's entries in the dedup
// window (their keys carry the user id). It returns the number of keys deleted. The
// identity map has no index by user, so this scans the anonymous ids: a cost paid once
// per erasure request, never on the event path. Forgetting twice deletes nothing more.
// Later events of an anonymous id that was linked start afresh, as an unknown id would.
func (l *Ledger) ForgetUser(ctx context.Context, userID string) (int, error) {
	anonPattern := cache.IngestAnonKey("*")
	dedupPattern := strings.TrimSuffix(cache.IngestDedupKey(cache.GlobEscape(userID), "", ""), ":") + "*"
	var n int
	scanNode := func(ctx context.Context, c redis.UniversalClient) error {
		for _, pattern := range []string{anonPattern, dedupPattern} {
			var cursor uint64
			for {
				keys, next, err := c.Scan(ctx, cursor, pattern, forgetScanBatch).Result()
				if err != nil {
					return fmt.Errorf("ledger: scan %s: %w", pattern, err)
				}
				for _, k := range keys {
					var deleted int64
					if pattern == anonPattern {
						deleted, err = forgetScript.Run(ctx, c, []string{k}, userID).Int64()
					} else {
						deleted, err = c.Del(ctx, k).Result()
					}
					if err != nil {
						return fmt.Errorf("ledger: forget user: %w", err)
					}
					n += int(deleted)
				}
				if next == 0 {
					break
				}
				cursor = next
			}
		}
		return nil
	}
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scanNode(ctx, c)
		})
		return n, err
	}
	return n, scanNode(ctx, l.rdb)
}
