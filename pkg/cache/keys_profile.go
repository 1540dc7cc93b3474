package cache

// Keys of the profile service besides ProfileKey. Per-user keys carry the user id in
// their {hash tag}, so a user's profile, memberships and segment outbox share a cluster
// slot and one Lua script can update them together; per-segment keys carry the segment id.

// ProfileKeyPattern matches every ProfileKey, for SCAN.
const ProfileKeyPattern = "strata:profile:{*}"

// ProfileUserID returns the user id of a ProfileKey, and false for another key.
func ProfileUserID(key string) (string, bool) {
	const prefix, suffix = "strata:profile:{", "}"
	if len(key) < len(prefix)+len(suffix) || key[:len(prefix)] != prefix || key[len(key)-1:] != suffix {
		return "", false
	}
	return key[len(prefix) : len(key)-1], true
}

// ProfileSegmentsKey is the hash of a user's segment memberships: segment id → the
// definition version it was evaluated with, plus "_v", the profile version evaluated.
func ProfileSegmentsKey(userID string) string { return "strata:profile-segments:{" + userID + "}" }

// ProfileSegmentOutboxKey is the list of a user's segment enter/exit events not yet
// published to Kafka.
func ProfileSegmentOutboxKey(userID string) string {
	return "strata:profile-segment-outbox:{" + userID + "}"
}

// SegmentMembersKey is the sorted set (all scores 0, ordered by user id) of a segment's
// members.
func SegmentMembersKey(segmentID string) string { return "strata:segment:{" + segmentID + "}:members" }

// SegmentStatusKey is the hash of a segment's back-fill status.
func SegmentStatusKey(segmentID string) string { return "strata:segment:{" + segmentID + "}:status" }

// SegmentBackfillLockKey is held by the instance back-filling a segment.
func SegmentBackfillLockKey(segmentID string) string {
	return "strata:segment:{" + segmentID + "}:backfill-lock"
}

// Keys of the profile service that are not per user or per segment.
const (
	// RFMBoundariesKey holds the current RFM quintile boundaries (protobuf), the same for
	// every instance.
	RFMBoundariesKey = "strata:rfm:boundaries"
	// RFMGridKey holds the RFM grid of the last calibration (protobuf).
	RFMGridKey = "strata:rfm:grid"
	// RFMLockKey is held by the instance calibrating RFM.
	RFMLockKey = "strata:rfm:lock"
	// ProfileRestoredKey marks that the profile cache was (re)built from the changelog;
	// its absence means Redis lost the profiles and must be restored before use.
	ProfileRestoredKey = "strata:profile:restored"
	// ProfileRestoreLockKey is held by the instance restoring the profile cache.
	ProfileRestoreLockKey = "strata:profile:restore-lock"
)

// SegmentSweepLockKey is held by the instance re-evaluating every segment.
const SegmentSweepLockKey = "strata:segment-sweep:lock"

// ClustersKey holds the behaviour clusters of the last computation (protobuf).
const ClustersKey = "strata:clusters:model"
