package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/segment"
)

// Memberships.
//
// A user's memberships live in one hash (segment id → definition version, and "_v", the
// profile version evaluated) next to an outbox list of enter/exit events not yet
// published; both carry the user's hash tag, so one script changes them atomically.
// ApplyMembership refuses results computed from an older profile version than the one
// last applied, so a back-fill reading a profile just before the updater changed it cannot
// undo the updater's verdict. FlushOutbox then syncs the per-segment member sets from the
// hash (the truth) and publishes the events; it deletes an event only after Kafka
// acknowledged it, so events are delivered at least once, in order per user.

// applyMembershipScript: KEYS[1] memberships hash, KEYS[2] outbox; ARGV[1] profile
// version, ARGV[2] unix ms, then (segment id, segment version, "1"|"0") triples. Returns
// the outbox length, or -1 when the version is stale.
var applyMembershipScript = redis.NewScript(`
local v = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], '_v') or '-1')
if v < cur then return -1 end
redis.call('HSET', KEYS[1], '_v', ARGV[1])
for i = 3, #ARGV, 3 do
  local id, sv, m = ARGV[i], ARGV[i+1], ARGV[i+2]
  local was = redis.call('HEXISTS', KEYS[1], id) == 1
  if m == '1' then
    redis.call('HSET', KEYS[1], id, sv)
    if not was then redis.call('RPUSH', KEYS[2], 'E|' .. id .. '|' .. sv .. '|' .. ARGV[1] .. '|' .. ARGV[2]) end
  elseif was then
    redis.call('HDEL', KEYS[1], id)
    redis.call('RPUSH', KEYS[2], 'X|' .. id .. '|' .. sv .. '|' .. ARGV[1] .. '|' .. ARGV[2])
  end
end
return redis.call('LLEN', KEYS[2])
`)

// ErrStaleMembership is returned by ApplyMembership for results of an older profile
// version than the one already applied.
var ErrStaleMembership = errors.New("store: memberships of a newer profile version are stored")

// ApplyMembership records results, evaluated on version of userID's profile at time at,
// and queues an enter or exit event for every change. It returns the number of queued
// events (flush them with FlushOutbox). Segments not in results are left as they are.
func (s *Store) ApplyMembership(ctx context.Context, userID string, version int64, at time.Time, results []segment.Result) (int64, error) {
	args := membershipArgs(version, at, results)
	n, err := applyMembershipScript.Run(ctx, s.rdb, []string{cache.ProfileSegmentsKey(userID), cache.ProfileSegmentOutboxKey(userID)}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("store: apply memberships: %w", err)
	}
	if n < 0 {
		return 0, ErrStaleMembership
	}
	return n, nil
}

// Memberships returns the ids of the segments userID belongs to.
func (s *Store) Memberships(ctx context.Context, userID string) ([]string, error) {
	keys, err := s.rdb.HKeys(ctx, cache.ProfileSegmentsKey(userID)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read memberships: %w", err)
	}
	out := keys[:0]
	for _, k := range keys {
		if k != "_v" {
			out = append(out, k)
		}
	}
	return out, nil
}

// outboxBatch bounds the events one flush step publishes.
const outboxBatch = 100

// FlushOutbox syncs the segment member sets of userID's queued events with the user's
// memberships, publishes the events with publish and removes them once it returned nil.
func (s *Store) FlushOutbox(ctx context.Context, userID string, publish func(context.Context, []*profilev1.SegmentEvent) error) error {
	key := cache.ProfileSegmentOutboxKey(userID)
	for {
		entries, err := s.rdb.LRange(ctx, key, 0, outboxBatch-1).Result()
		if err != nil {
			return fmt.Errorf("store: read segment outbox: %w", err)
		}
		if len(entries) == 0 {
			return nil
		}
		events := make([]*profilev1.SegmentEvent, 0, len(entries))
		segs := map[string]bool{}
		for _, e := range entries {
			ev, err := parseOutboxEntry(userID, e)
			if err != nil {
				return err
			}
			events = append(events, ev)
			segs[ev.GetSegmentId()] = true
		}
		ids := make([]string, 0, len(segs))
		for id := range segs {
			ids = append(ids, id)
		}
		if err := s.SyncMembers(ctx, userID, ids); err != nil {
			return err
		}
		if err := publish(ctx, events); err != nil {
			return fmt.Errorf("store: publish segment events: %w", err)
		}
		pipe := s.rdb.Pipeline()
		for _, e := range entries {
			pipe.LRem(ctx, key, 1, e)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("store: trim segment outbox: %w", err)
		}
		if len(entries) < outboxBatch {
			return nil
		}
	}
}

func parseOutboxEntry(userID, e string) (*profilev1.SegmentEvent, error) {
	parts := strings.Split(e, "|")
	if len(parts) != 5 {
		return nil, fmt.Errorf("store: malformed segment outbox entry %q", e)
	}
	typ := profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER
	if parts[0] == "X" {
		typ = profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_EXIT
	}
	sv, err1 := strconv.ParseInt(parts[2], 10, 64)
	pv, err2 := strconv.ParseInt(parts[3], 10, 64)
	ms, err3 := strconv.ParseInt(parts[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("store: malformed segment outbox entry %q: %w", e, err)
	}
	return &profilev1.SegmentEvent{
		UserId: userID, SegmentId: parts[1], Type: typ, SegmentVersion: sv, ProfileVersion: pv,
		OccurredAt: timestamppb.New(time.UnixMilli(ms).UTC()),
	}, nil
}

// SyncMembers makes the member sets of segmentIDs agree with userID's memberships.
func (s *Store) SyncMembers(ctx context.Context, userID string, segmentIDs []string) error {
	if len(segmentIDs) == 0 {
		return nil
	}
	fields, err := s.rdb.HMGet(ctx, cache.ProfileSegmentsKey(userID), segmentIDs...).Result()
	if err != nil {
		return fmt.Errorf("store: read memberships: %w", err)
	}
	pipe := s.rdb.Pipeline()
	for i, id := range segmentIDs {
		if fields[i] != nil {
			pipe.ZAdd(ctx, cache.SegmentMembersKey(id), redis.Z{Member: userID})
		} else {
			pipe.ZRem(ctx, cache.SegmentMembersKey(id), userID)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: sync segment members: %w", err)
	}
	return nil
}

// Members returns up to n members of a segment after the page token, ordered by user id,
// the next page token ("" at the end) and the member count.
func (s *Store) Members(ctx context.Context, segmentID, pageToken string, n int) ([]string, string, int64, error) {
	key := cache.SegmentMembersKey(segmentID)
	lo := "-"
	if pageToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil {
			return nil, "", 0, fmt.Errorf("%w: %w", ErrBadPageToken, err)
		}
		lo = "(" + string(after)
	}
	ids, err := s.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: lo, Max: "+", Count: int64(n) + 1}).Result()
	if err != nil {
		return nil, "", 0, fmt.Errorf("store: list segment members: %w", err)
	}
	total, err := s.rdb.ZCard(ctx, key).Result()
	if err != nil {
		return nil, "", 0, fmt.Errorf("store: count segment members: %w", err)
	}
	next := ""
	if len(ids) > n {
		ids = ids[:n]
		next = base64.RawURLEncoding.EncodeToString([]byte(ids[n-1]))
	}
	return ids, next, total, nil
}

// ErrBadPageToken is returned by Members for a page token it did not issue.
var ErrBadPageToken = errors.New("store: malformed page token")

// MemberCount returns the number of members of a segment.
func (s *Store) MemberCount(ctx context.Context, segmentID string) (int64, error) {
	n, err := s.rdb.ZCard(ctx, cache.SegmentMembersKey(segmentID)).Result()
	if err != nil {
		return 0, fmt.Errorf("store: count segment members: %w", err)
	}
	return n, nil
}

// DropSegment removes a deleted segment: its members' memberships (without exit events:
// the segment is gone, not the users), its member set and its status.
func (s *Store) DropSegment(ctx context.Context, segmentID string) error {
	key := cache.SegmentMembersKey(segmentID)
	for {
		ids, err := s.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: "-", Max: "+", Count: scanBatch}).Result()
		if err != nil {
			return fmt.Errorf("store: list segment members: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		pipe := s.rdb.Pipeline()
		for _, id := range ids {
			pipe.HDel(ctx, cache.ProfileSegmentsKey(id), segmentID)
			pipe.ZRem(ctx, key, id)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("store: drop segment members: %w", err)
		}
	}
	if err := s.rdb.Del(ctx, key, cache.SegmentStatusKey(segmentID)).Err(); err != nil {
		return fmt.Errorf("store: drop segment: %w", err)
	}
	return nil
}

// SegmentStatus is where a segment's back-fill stands.
type SegmentStatus struct {
	// ComputedVersion is the definition version of the last finished back-fill.
	ComputedVersion int64
	// ComputingVersion is the version being back-filled, 0 when none.
	ComputingVersion int64
	ComputedAt       time.Time
}

// GetSegmentStatus returns a segment's back-fill status (zero when never back-filled).
func (s *Store) GetSegmentStatus(ctx context.Context, segmentID string) (SegmentStatus, error) {
	m, err := s.rdb.HGetAll(ctx, cache.SegmentStatusKey(segmentID)).Result()
	if err != nil {
		return SegmentStatus{}, fmt.Errorf("store: read segment status: %w", err)
	}
	var st SegmentStatus
	st.ComputedVersion, _ = strconv.ParseInt(m["computed_version"], 10, 64)
	st.ComputingVersion, _ = strconv.ParseInt(m["computing_version"], 10, 64)
	if ms, err := strconv.ParseInt(m["computed_at"], 10, 64); err == nil {
		st.ComputedAt = time.UnixMilli(ms).UTC()
	}
	return st, nil
}

// SetSegmentComputing records that version of a segment is being back-filled.
func (s *Store) SetSegmentComputing(ctx context.Context, segmentID string, version int64) error {
	if err := s.rdb.HSet(ctx, cache.SegmentStatusKey(segmentID), "computing_version", version).Err(); err != nil {
		return fmt.Errorf("store: write segment status: %w", err)
	}
	return nil
}

// SetSegmentReady records that version of a segment was back-filled at at.
func (s *Store) SetSegmentReady(ctx context.Context, segmentID string, version int64, at time.Time) error {
	err := s.rdb.HSet(ctx, cache.SegmentStatusKey(segmentID),
		"computed_version", version, "computing_version", 0, "computed_at", at.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("store: write segment status: %w", err)
	}
	return nil
}

// exitAllScript queues an exit event for every membership of a user and deletes the
// memberships. KEYS[1] memberships hash, KEYS[2] outbox; ARGV[1] unix ms. Returns the
// outbox length.
var exitAllScript = redis.NewScript(`
local pv = redis.call('HGET', KEYS[1], '_v') or '0'
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= '_v' then
    redis.call('RPUSH', KEYS[2], 'X|' .. all[i] .. '|' .. all[i+1] .. '|' .. pv .. '|' .. ARGV[1])
  end
end
redis.call('DEL', KEYS[1])
return redis.call('LLEN', KEYS[2])
`)

// ExitAll makes userID leave every segment (the right to erasure): it queues an exit
// event per membership, at time at, and deletes the memberships, atomically. It returns
// the number of queued events (flush them with FlushOutbox, which also removes the user
// from the segments' member sets). Calling it again queues nothing more.
func (s *Store) ExitAll(ctx context.Context, userID string, at time.Time) (int64, error) {
	n, err := exitAllScript.Run(ctx, s.rdb, []string{cache.ProfileSegmentsKey(userID), cache.ProfileSegmentOutboxKey(userID)}, at.UnixMilli()).Int64()
	if err != nil {
		return 0, fmt.Errorf("store: leave segments: %w", err)
	}
	return n, nil
}

// erasedKey marks a user erased (see MarkErased). It carries the user's hash tag.
func erasedKey(userID string) string { return "strata:profile-erased:{" + userID + "}" }

// MarkErased records, for ttl, that userID was erased: predictions scored before the
// erasure but consumed after it must not bring a profile back (see Erased).
func (s *Store) MarkErased(ctx context.Context, userID string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, erasedKey(userID), "1", ttl).Err(); err != nil {
		return fmt.Errorf("store: mark erased: %w", err)
	}
	return nil
}

// Erased returns which of userIDs were erased within the MarkErased ttl.
func (s *Store) Erased(ctx context.Context, userIDs []string) (map[string]bool, error) {
	cmds := make([]*redis.IntCmd, len(userIDs))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range userIDs {
			cmds[i] = p.Exists(ctx, erasedKey(u))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: read erased: %w", err)
	}
	out := map[string]bool{}
	for i, c := range cmds {
		if c.Val() > 0 {
			out[userIDs[i]] = true
		}
	}
	return out, nil
}
