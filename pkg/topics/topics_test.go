package topics_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/topics"
)

func TestAllNamesAreVersionedAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range topics.All() {
		if !strings.HasPrefix(s.Name, "strata.") || !strings.HasSuffix(s.Name, ".v1") {
			t.Errorf("topic %q: want prefix strata. and suffix .v1", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("topic %q listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Partitions < 1 {
			t.Errorf("topic %q: got %d partitions, want >= 1", s.Name, s.Partitions)
		}
		if s.CleanupPolicy == topics.Compact && s.Retention != topics.Forever {
			t.Errorf("compacted topic %q: got retention %v, want Forever", s.Name, s.Retention)
		}
	}
	if got, want := len(seen), 11; got != want {
		t.Errorf("got %d topics, want %d", got, want)
	}
}

func TestCoPartitionedTopicsShareCount(t *testing.T) {
	t.Parallel()
	// Keyed by user id and joined per partition by stateful consumers.
	names := []string{topics.Events, topics.Profiles, topics.Predictions, topics.Segments}
	want := -1
	for _, n := range names {
		s, ok := topics.Lookup(n)
		if !ok {
			t.Fatalf("Lookup(%q): not found", n)
		}
		if want == -1 {
			want = s.Partitions
		}
		if s.Partitions != want {
			t.Errorf("topic %q: got %d partitions, want %d", n, s.Partitions, want)
		}
	}
}

func TestSpecConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec topics.Spec
		want map[string]string
	}{
		{"delete with retention", topics.Spec{Retention: 7 * 24 * time.Hour, CleanupPolicy: topics.Delete},
			map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000"}},
		{"compact forever", topics.Spec{Retention: topics.Forever, CleanupPolicy: topics.Compact},
			map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"}},
		{"broker defaults", topics.Spec{}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.spec.Configs(); !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGroupsAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, g := range topics.Groups() {
		if !strings.HasPrefix(g, "strata-") {
			t.Errorf("group %q: want prefix strata-", g)
		}
		if seen[g] {
			t.Errorf("group %q listed twice", g)
		}
		seen[g] = true
	}
	if got, want := len(seen), 7; got != want {
		t.Errorf("got %d groups, want %d", got, want)
	}
}

func TestLookupUnknown(t *testing.T) {
	t.Parallel()
	if _, ok := topics.Lookup("strata.nope.v1"); ok {
		t.Errorf("Lookup(unknown): got ok, want not found")
	}
}
