package bustest_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/bustest"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func TestNameIsValidAndUnique(t *testing.T) {
	t.Parallel()
	t.Run("sub/test with spaces", func(t *testing.T) {
		t.Parallel()
		a, b := bustest.Name(t, "strata.test"), bustest.Name(t, "strata.test")
		for _, n := range []string{a, b} {
			if !validName.MatchString(n) {
				t.Errorf("Name: got %q, want a valid Kafka topic name", n)
			}
		}
		if a == b {
			t.Errorf("Name twice: got %q both times, want different names", a)
		}
	})
}

func TestTopicCreatesTopic(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	name := bustest.Topic(t, brokers, 2)
	client := bustest.Client(t, brokers)
	md, err := client.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != 2 {
		t.Errorf("got topics %+v, want %s with 2 partitions", md.Topics, name)
	}
}
