// Package store keeps the recommendation service's state in Redis: every user's
// interaction history (time-decayed weights, owned and negative marks), the orders that
// refunds and the post-purchase scene refer to, the precomputed lists, the catalog, the
// index of active users and the latest training runs.
//
// Redis is a cache here: the histories are rebuilt by replaying strata.events.v1 (reset
// the consumer group strata-recommendation to the earliest offset) and the catalog by
// replaying the compacted strata.catalog.v1. Applying an event is one Lua script over the
// user's keys, atomic and idempotent: the script remembers the user's latest applied
// event ids, so a redelivered event changes nothing. A Store is safe for concurrent use.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/cache"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/signal"
)

// ErrNotFound is returned for a list that is not cached.
var ErrNotFound = errors.New("store: not found")

// Limits bound what the store keeps per user.
type Limits struct {
	// HalfLife is the decay half-life of interaction weights; 0 disables decay.
	HalfLife time.Duration
	// MaxItems is how many items a history keeps (the most recent); default 500.
	MaxItems int
	// MaxEvents is how many event ids per user are remembered for idempotency; default 1000.
	MaxEvents int
	// TTL expires a user's history, events and orders after that long without an event;
	// default 180 days.
	TTL time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxItems <= 0 {
		l.MaxItems = 500
	}
	if l.MaxEvents <= 0 {
		l.MaxEvents = 1000
	}
	if l.TTL <= 0 {
		l.TTL = 180 * 24 * time.Hour
	}
	return l
}

// Store reads and writes the service's Redis keys.
type Store struct {
	rdb    redis.UniversalClient
	limits Limits
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient, limits Limits) *Store {
	return &Store{rdb: rdb, limits: limits.withDefaults()}
}

// Entry is one item of a user's history.
type Entry struct {
	Item string
	// Weight is the interaction weight decayed to At.
	Weight   float64
	At       time.Time
	Owned    bool
	Negative bool
	// Kind is the strongest kind of feedback seen for the item.
	Kind signal.Kind
}

// applyScript applies one event's signals to a user's history. See Apply for the
// arguments.
var applyScript = redis.NewScript(`
local id = ARGV[1]
if id ~= '' and redis.call('ZSCORE', KEYS[2], id) then return 0 end
local now = tonumber(ARGV[2])
local hl = tonumber(ARGV[3])
local function apply(item, w, owned, neg, kind)
  local cur = redis.call('HGET', KEYS[1], item)
  local cw, ct, co, cn, ck = 0, now, 0, 0, 0
  if cur then
    local a, b, c, d, e = string.match(cur, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
    cw, ct, co, cn, ck = tonumber(a), tonumber(b), tonumber(c), tonumber(d), tonumber(e)
  end
  if now >= ct then
    if hl > 0 then cw = cw * math.pow(2, -(now - ct) / hl) end
    cw = cw + w
    ct = now
  else
    if hl > 0 then w = w * math.pow(2, -(ct - now) / hl) end
    cw = cw + w
  end
  if owned == 1 then co = 1 elseif owned == -1 then co = 0 end
  if neg == 1 then cn = 1 elseif neg == -1 then cn = 0 end
  if kind > ck then ck = kind end
  redis.call('HSET', KEYS[1], item, string.format('%.6g|%d|%d|%d|%d', cw, ct, co, cn, ck))
end
local n = tonumber(ARGV[9])
local items = {}
for i = 0, n - 1 do
  local b = 10 + i * 5
  apply(ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]))
  items[#items + 1] = ARGV[b]
end
if ARGV[6] ~= '' then
  if ARGV[7] == '1' and #items > 0 then
    redis.call('HSET', KEYS[3], ARGV[6], table.concat(items, ','))
  end
  if ARGV[8] == '1' then
    local list = redis.call('HGET', KEYS[3], ARGV[6])
    if list then
      for item in string.gmatch(list, '[^,]+') do apply(item, 0, -1, 1, 0) end
    end
  end
end
local maxItems = tonumber(ARGV[5])
if redis.call('HLEN', KEYS[1]) > maxItems then
  local all = redis.call('HGETALL', KEYS[1])
  local byTime = {}
  for i = 1, #all, 2 do
    local t = tonumber(string.match(all[i + 1], '^[^|]*|([^|]*)|'))
    byTime[#byTime + 1] = {t, all[i]}
  end
  table.sort(byTime, function(x, y) if x[1] == y[1] then return x[2] < y[2] end return x[1] < y[1] end)
  for i = 1, #byTime - maxItems do redis.call('HDEL', KEYS[1], byTime[i][2]) end
end
if id ~= '' then
  redis.call('ZADD', KEYS[2], now, id)
  local c = redis.call('ZCARD', KEYS[2])
  local maxEvents = tonumber(ARGV[4])
  if c > maxEvents then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, c - maxEvents - 1) end
end
local ttl = tonumber(ARGV[10 + n * 5])
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
`)

// Apply applies f to its user's history and records the user as active at f.Time. It
// returns false, changing nothing, when the event was applied before or carries nothing
// to apply.
func (s *Store) Apply(ctx context.Context, f signal.Feedback) (bool, error) {
	if f.User == "" || (len(f.Signals) == 0 && !f.RefundOrder) {
		return false, nil
	}
	at := f.Time.Unix()
	args := []any{
		f.EventID, at, int64(s.limits.HalfLife.Seconds()), s.limits.MaxEvents, s.limits.MaxItems,
		f.OrderID, boolArg(len(f.Signals) > 0 && !f.RefundOrder && hasPurchase(f)), boolArg(f.RefundOrder), len(f.Signals),
	}
	for _, sg := range f.Signals {
		args = append(args, sg.Item, strconv.FormatFloat(sg.Weight, 'g', 8, 64), int(sg.Owned), int(sg.Negative), int(sg.Kind))
	}
	args = append(args, int64(s.limits.TTL.Seconds()))
	keys := []string{cache.RecHistoryKey(f.User), cache.RecEventsKey(f.User), cache.RecOrdersKey(f.User)}
	n, err := applyScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("store: apply event: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if err := s.rdb.ZAddGT(ctx, cache.RecActiveUsersKey, redis.Z{Score: float64(at), Member: f.User}).Err(); err != nil {
		return true, fmt.Errorf("store: mark user active: %w", err)
	}
	return true, nil
}

func hasPurchase(f signal.Feedback) bool {
	for _, sg := range f.Signals {
		if sg.Kind == signal.KindPurchase {
			return true
		}
	}
	return false
}

func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

// History returns a user's history (nil for an unknown user), ordered by item id, so
// that trainings over the same histories build the same matrix.
func (s *Store) History(ctx context.Context, user string) ([]Entry, error) {
	m, err := s.rdb.HGetAll(ctx, cache.RecHistoryKey(user)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read history: %w", err)
	}
	return parseHistory(m), nil
}

// Histories returns the histories of users, in one pipeline per batch of 500.
func (s *Store) Histories(ctx context.Context, users []string) (map[string][]Entry, error) {
	out := make(map[string][]Entry, len(users))
	err := s.hashes(ctx, users, cache.RecHistoryKey, func(u string, m map[string]string) {
		if h := parseHistory(m); len(h) > 0 {
			out[u] = h
		}
	})
	if err != nil {
		return nil, fmt.Errorf("store: read histories: %w", err)
	}
	return out, nil
}

// hashes reads the hash key(u) of every user, in one pipeline per batch of 500, and
// calls each with every user's fields.
func (s *Store) hashes(ctx context.Context, users []string, key func(string) string, each func(user string, m map[string]string)) error {
	const batch = 500
	for lo := 0; lo < len(users); lo += batch {
		chunk := users[lo:min(lo+batch, len(users))]
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, u := range chunk {
				cmds[i] = p.HGetAll(ctx, key(u))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, u := range chunk {
			each(u, cmds[i].Val())
		}
	}
	return nil
}

func parseHistory(m map[string]string) []Entry {
	out := make([]Entry, 0, len(m))
	for item, v := range m {
		parts := strings.Split(v, "|")
		if len(parts) != 5 {
			continue
		}
		w, err1 := strconv.ParseFloat(parts[0], 64)
		t, err2 := strconv.ParseInt(parts[1], 10, 64)
		k, err3 := strconv.Atoi(parts[4])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, Entry{
			Item: item, Weight: w, At: time.Unix(t, 0).UTC(),
			Owned: parts[2] == "1", Negative: parts[3] == "1", Kind: signal.Kind(k),
		})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Item, b.Item) })
	return out
}

// ActiveUsers returns up to limit users, most recently active first, active at or after
// since.
func (s *Store) ActiveUsers(ctx context.Context, limit int, since time.Time) ([]string, error) {
	users, err := s.rdb.ZRevRangeByScore(ctx, cache.RecActiveUsersKey, &redis.ZRangeBy{
		Max: "+inf", Min: strconv.FormatInt(since.Unix(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: active users: %w", err)
	}
	return users, nil
}

// OrderItems returns the items of one of the user's orders (nil when unknown).
func (s *Store) OrderItems(ctx context.Context, user, orderID string) ([]string, error) {
	v, err := s.rdb.HGet(ctx, cache.RecOrdersKey(user), orderID).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read order: %w", err)
	}
	return strings.Split(v, ","), nil
}

// PutLists caches lists (user → list) for scene with the given time to live, in
// pipelines of 500.
func (s *Store) PutLists(ctx context.Context, scene string, lists map[string]*recommendationv1.RecommendResponse, ttl time.Duration) error {
	users := make([]string, 0, len(lists))
	for u := range lists {
		users = append(users, u)
	}
	const batch = 500
	for lo := 0; lo < len(users); lo += batch {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, u := range users[lo:min(lo+batch, len(users))] {
				b, err := proto.Marshal(lists[u])
				if err != nil {
					return err
				}
				p.Set(ctx, cache.RecListKey(u, scene), b, ttl)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: write lists: %w", err)
		}
	}
	return nil
}

// DeleteList drops a user's cached list for scene.
func (s *Store) DeleteList(ctx context.Context, user, scene string) error {
	if err := s.rdb.Del(ctx, cache.RecListKey(user, scene)).Err(); err != nil {
		return fmt.Errorf("store: delete list: %w", err)
	}
	return nil
}

// PutCatalogItem records a catalog item.
func (s *Store) PutCatalogItem(ctx context.Context, it *eventv1.CatalogItem) error {
	b, err := proto.Marshal(it)
	if err != nil {
		return fmt.Errorf("store: encode item: %w", err)
	}
	if err := s.rdb.HSet(ctx, cache.RecCatalogKey, it.GetItemId(), b).Err(); err != nil {
		return fmt.Errorf("store: write item: %w", err)
	}
	return nil
}

// DeleteCatalogItem forgets a catalog item.
func (s *Store) DeleteCatalogItem(ctx context.Context, itemID string) error {
	if err := s.rdb.HDel(ctx, cache.RecCatalogKey, itemID).Err(); err != nil {
		return fmt.Errorf("store: delete item: %w", err)
	}
	return nil
}

// Catalog returns every recorded catalog item.
func (s *Store) Catalog(ctx context.Context) ([]*eventv1.CatalogItem, error) {
	m, err := s.rdb.HGetAll(ctx, cache.RecCatalogKey).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read catalog: %w", err)
	}
	out := make([]*eventv1.CatalogItem, 0, len(m))
	for _, v := range m {
		it := &eventv1.CatalogItem{}
		if err := proto.Unmarshal([]byte(v), it); err != nil {
			continue // a value this version cannot read is skipped, not fatal
		}
		out = append(out, it)
	}
	return out, nil
}

// traitsKey is the hash of what a user stated or was assigned outside their history:
// field "interests" holds their stated interests (joined by \x1f) and one field
// "seg:<segment id>" per segment they are in (from strata.segments.v1). The other keys
// of the service are named in pkg/cache; this one is the service's own until it moves
// there.
func traitsKey(user string) string { return "strata:rec:traits:{" + user + "}" }

const (
	interestsField = "interests"
	segmentPrefix  = "seg:"
	listSep        = "\x1f"
)

// Traits are a user's stated interests and segment memberships.
type Traits struct {
	Interests []string
	Segments  []string
}

// PutInterests replaces a user's stated interests (none: forgets them).
func (s *Store) PutInterests(ctx context.Context, user string, interests []string) error {
	key := traitsKey(user)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(interests) == 0 {
			p.HDel(ctx, key, interestsField)
		} else {
			p.HSet(ctx, key, interestsField, strings.Join(interests, listSep))
		}
		p.Expire(ctx, key, s.limits.TTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write interests: %w", err)
	}
	return nil
}

// SetSegment records that user entered (member) or left a segment. Applying it again
// changes nothing.
func (s *Store) SetSegment(ctx context.Context, user, segmentID string, member bool) error {
	key := traitsKey(user)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if member {
			p.HSet(ctx, key, segmentPrefix+segmentID, "1")
		} else {
			p.HDel(ctx, key, segmentPrefix+segmentID)
		}
		p.Expire(ctx, key, s.limits.TTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write segment membership: %w", err)
	}
	return nil
}

// Traits returns a user's traits (zero for an unknown user).
func (s *Store) Traits(ctx context.Context, user string) (Traits, error) {
	m, err := s.rdb.HGetAll(ctx, traitsKey(user)).Result()
	if err != nil {
		return Traits{}, fmt.Errorf("store: read traits: %w", err)
	}
	return parseTraits(m), nil
}

// TraitsOf returns the traits of users that have some, in one pipeline per batch of 500.
func (s *Store) TraitsOf(ctx context.Context, users []string) (map[string]Traits, error) {
	out := map[string]Traits{}
	err := s.hashes(ctx, users, traitsKey, func(u string, m map[string]string) {
		if len(m) > 0 {
			out[u] = parseTraits(m)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("store: read traits: %w", err)
	}
	return out, nil
}

func parseTraits(m map[string]string) Traits {
	var t Traits
	for k, v := range m {
		switch {
		case k == interestsField:
			t.Interests = strings.Split(v, listSep)
		case strings.HasPrefix(k, segmentPrefix):
			t.Segments = append(t.Segments, strings.TrimPrefix(k, segmentPrefix))
		}
	}
	slices.Sort(t.Segments)
	return t
}

// segmentNamesKey is the hash of segment names (segment id → name), from
// strata.segment-definitions.v1, so that every instance names the segments in reasons
// (one instance of the group consumes that single-partition topic). Like traitsKey, it is
// the service's own until it moves to pkg/cache.
const segmentNamesKey = "strata:rec:segment-names"

// PutSegmentName records a segment's name; an empty name forgets the segment.
func (s *Store) PutSegmentName(ctx context.Context, segmentID, name string) error {
	var err error
	if name == "" {
		err = s.rdb.HDel(ctx, segmentNamesKey, segmentID).Err()
	} else {
		err = s.rdb.HSet(ctx, segmentNamesKey, segmentID, name).Err()
	}
	if err != nil {
		return fmt.Errorf("store: write segment name: %w", err)
	}
	return nil
}

// SegmentNames returns every recorded segment name by segment id.
func (s *Store) SegmentNames(ctx context.Context) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, segmentNamesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read segment names: %w", err)
	}
	return m, nil
}

// EraseUser deletes everything the store holds on user (the right to erasure): the
// interaction history, the applied event ids, the orders, the traits (stated interests
// and segment memberships), every cached list and the user's place in the index of
// active users, so the next training leaves the user out. It returns the number of keys
// and index entries removed; erasing again removes nothing. Finding the cached lists
// scans the keyspace for the user's list keys: a cost paid once per erasure request.
func (s *Store) EraseUser(ctx context.Context, user string) (int64, error) {
	keys := []string{cache.RecHistoryKey(user), cache.RecEventsKey(user), cache.RecOrdersKey(user), traitsKey(user)}
	pattern := cache.RecListKey(cache.GlobEscape(user), "*")
	scanNode := func(ctx context.Context, c redis.UniversalClient) ([]string, error) {
		var found []string
		var cursor uint64
		for {
			ks, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return nil, fmt.Errorf("store: scan lists: %w", err)
			}
			found = append(found, ks...)
			if next == 0 {
				return found, nil
			}
			cursor = next
		}
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// The user's keys share its hash tag, hence one node.
		c, err := cc.MasterForKey(ctx, cache.RecListKey(user, ""))
		if err != nil {
			return 0, fmt.Errorf("store: erase user: %w", err)
		}
		lists, err := scanNode(ctx, c)
		if err != nil {
			return 0, err
		}
		keys = append(keys, lists...)
	} else {
		lists, err := scanNode(ctx, s.rdb)
		if err != nil {
			return 0, err
		}
		keys = append(keys, lists...)
	}
	var del, rem *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, keys...)
		rem = p.ZRem(ctx, cache.RecActiveUsersKey, user)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: erase user: %w", err)
	}
	return del.Val() + rem.Val(), nil
}
