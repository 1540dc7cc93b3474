// Package topics names every Kafka topic and consumer group of the Strata
// suite, with the partition count, retention and cleanup policy each topic is
// created with.
//
// Topic and group names are API: renaming a topic orphans its data, and
// renaming a group makes its consumers start again from the oldest offset
// (a replay). Every service refers to these constants; none spells a name
// itself.
//
// Keys are the canonical user id on user-keyed topics (the item id on
// [Catalog]), so that one user's messages stay ordered and co-partitioned.
// Co-partitioning only holds while [Events], [Profiles] and [Predictions]
// keep the same partition count: change them together or not at all.
//
// The package holds only values; it is safe for concurrent use.
package topics

import (
	"strconv"
	"time"
)

// Topic names.
const (
	// EventsRaw carries Segment-spec events as upstream systems publish them
	// (JSON); ingest validates and normalises them into Events.
	EventsRaw = "strata.events.raw.v1"
	// Events carries validated behaviour events (protobuf), keyed by user id.
	Events = "strata.events.v1"
	// Catalog is the compacted catalogue of items, keyed by item id.
	Catalog = "strata.catalog.v1"
	// EventsDLQ receives messages no consumer could handle, with headers
	// naming the error and the source topic, partition and offset.
	EventsDLQ = "strata.events.dlq.v1"
	// Profiles is the compacted profile changelog, keyed by user id; a
	// tombstone erases a profile.
	Profiles = "strata.profiles.v1"
	// Segments carries segment enter and exit events, keyed by user id.
	Segments = "strata.segments.v1"
	// SegmentDefinitions is the compacted set of segment definitions, keyed
	// by segment id.
	SegmentDefinitions = "strata.segment-definitions.v1"
	// Predictions is the compacted latest prediction per user, keyed by user id.
	Predictions = "strata.predictions.v1"
	// CRMMessages is the CRM outbox: messages to deliver, keyed by user id.
	CRMMessages = "strata.crm.messages.v1"
	// Privacy carries right-to-erasure and consent requests, keyed by user id.
	Privacy = "strata.privacy.v1"
	// PrivacyReceipts carries the services' erasure receipts (one per service and
	// request, after its erasure succeeded), keyed by request id + "/" + service;
	// the CRM collects them to report whether an erasure is complete.
	PrivacyReceipts = "strata.privacy.receipts.v1"
)

// Consumer group names. One group per consuming service: instances of a
// service share its group and split the partitions between them.
const (
	GroupIngestRaw      = "strata-ingest-raw"
	GroupProfile        = "strata-profile"
	GroupPrediction     = "strata-prediction"
	GroupRecommendation = "strata-recommendation"
	GroupCRM            = "strata-crm"
	// GroupIngestPrivacy is ingest's consumer of [Privacy] (the raw events have
	// their own group, [GroupIngestRaw]).
	GroupIngestPrivacy = "strata-ingest-privacy"
	// GroupPredictionPrivacy is the prediction service's consumer of [Privacy]: a
	// group of its own, so that adding the topic did not change the assignment of
	// [GroupPrediction]'s partitions, and an erasure is not queued behind events.
	GroupPredictionPrivacy = "strata-prediction-privacy"
)

// CleanupPolicy is a topic's cleanup.policy.
type CleanupPolicy string

// Cleanup policies.
const (
	// Delete drops log segments older than the retention.
	Delete CleanupPolicy = "delete"
	// Compact keeps the latest record per key; a record with a nil value
	// (tombstone) deletes its key.
	Compact CleanupPolicy = "compact"
)

// DefaultPartitions is the partition count of the user-keyed topics. It bounds
// how many instances of one service share the work of a topic.
const DefaultPartitions = 6

// Forever is the Retention of topics that never drop records by age.
const Forever time.Duration = -1

// Spec describes how a topic is created.
type Spec struct {
	// Name is the topic name.
	Name string
	// Partitions is the number of partitions.
	Partitions int
	// ReplicationFactor is the number of replicas; 0 leaves it to the
	// broker's default.replication.factor (1 on a single local broker).
	ReplicationFactor int
	// Retention is retention.ms: how long records are kept; [Forever] keeps
	// them, 0 leaves it to the broker's default.
	Retention time.Duration
	// CleanupPolicy is cleanup.policy.
	CleanupPolicy CleanupPolicy
}

// Configs returns the topic-level configuration entries of s, as passed to
// CreateTopics.
func (s Spec) Configs() map[string]string {
	cfg := map[string]string{}
	if s.CleanupPolicy != "" {
		cfg["cleanup.policy"] = string(s.CleanupPolicy)
	}
	switch {
	case s.Retention < 0:
		cfg["retention.ms"] = "-1"
	case s.Retention > 0:
		cfg["retention.ms"] = strconv.FormatInt(s.Retention.Milliseconds(), 10)
	}
	return cfg
}

const day = 24 * time.Hour

// All returns the spec of every Strata topic, in a stable order. The caller
// owns the returned slice.
func All() []Spec {
	return []Spec{
		{Name: EventsRaw, Partitions: DefaultPartitions, Retention: 7 * day, CleanupPolicy: Delete},
		{Name: Events, Partitions: DefaultPartitions, Retention: 30 * day, CleanupPolicy: Delete},
		{Name: Catalog, Partitions: DefaultPartitions, Retention: Forever, CleanupPolicy: Compact},
		{Name: EventsDLQ, Partitions: DefaultPartitions, Retention: 14 * day, CleanupPolicy: Delete},
		{Name: Profiles, Partitions: DefaultPartitions, Retention: Forever, CleanupPolicy: Compact},
		{Name: Segments, Partitions: DefaultPartitions, Retention: 7 * day, CleanupPolicy: Delete},
		// One partition: every consumer reads all definitions, in order.
		{Name: SegmentDefinitions, Partitions: 1, Retention: Forever, CleanupPolicy: Compact},
		{Name: Predictions, Partitions: DefaultPartitions, Retention: Forever, CleanupPolicy: Compact},
		{Name: CRMMessages, Partitions: DefaultPartitions, Retention: 7 * day, CleanupPolicy: Delete},
		{Name: Privacy, Partitions: DefaultPartitions, Retention: 30 * day, CleanupPolicy: Delete},
		// Delete, not compact: a receipt names the erased user, and a compacted topic
		// would keep that id for ever. The CRM stores the receipts it consumes, so the
		// topic only has to outlive consumer downtime; 30 days, as the requests.
		{Name: PrivacyReceipts, Partitions: DefaultPartitions, Retention: 30 * day, CleanupPolicy: Delete},
	}
}

// Lookup returns the spec of the named Strata topic.
func Lookup(name string) (Spec, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Groups returns every consumer group name.
func Groups() []string {
	return []string{GroupIngestRaw, GroupProfile, GroupPrediction, GroupRecommendation, GroupCRM,
		GroupIngestPrivacy, GroupPredictionPrivacy}
}
