package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/topics"
)

// EnsureTopics creates the topics of specs that do not exist yet, with their
// partitions, replication factor, retention and cleanup policy (cfg's
// Partitions and ReplicationFactor override the specs when positive), and
// waits until the cluster's metadata shows every topic with a leader for
// each partition. Existing topics are left as they are; a partition count
// different from the spec is logged, not changed. It is safe to call from
// several processes at once.
func EnsureTopics(ctx context.Context, cfg Config, specs ...topics.Spec) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(specs) == 0 {
		return nil
	}
	transport := &kafka.Transport{ClientID: cfg.clientID()}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: transport}

	req := &kafka.CreateTopicsRequest{Topics: make([]kafka.TopicConfig, 0, len(specs))}
	names := make([]string, 0, len(specs))
	want := make(map[string]int, len(specs))
	for _, s := range specs {
		if s.Name == "" {
			return fmt.Errorf("bus: ensure topics: %w", ErrMissingTopic)
		}
		tc := kafka.TopicConfig{
			Topic:             s.Name,
			NumPartitions:     s.Partitions,
			ReplicationFactor: s.ReplicationFactor,
		}
		if cfg.Partitions > 0 {
			tc.NumPartitions = cfg.Partitions
		}
		if cfg.ReplicationFactor > 0 {
			tc.ReplicationFactor = cfg.ReplicationFactor
		}
		if tc.NumPartitions <= 0 {
			tc.NumPartitions = -1 // broker default
		}
		if tc.ReplicationFactor <= 0 {
			tc.ReplicationFactor = -1 // broker default (KIP-464)
		}
		for k, v := range s.Configs() {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		slices.SortFunc(tc.ConfigEntries, func(a, b kafka.ConfigEntry) int {
			return strings.Compare(a.ConfigName, b.ConfigName)
		})
		req.Topics = append(req.Topics, tc)
		names = append(names, s.Name)
		want[s.Name] = tc.NumPartitions
	}

	res, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("bus: create topics: %w", err)
	}
	var errs []error
	for name, terr := range res.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("topic %s: %w", name, terr))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bus: create topics: %w", errors.Join(errs...))
	}
	return waitForTopics(ctx, client, names, want, cfg.logger())
}

// waitForTopics polls metadata until every topic has all its partitions led.
// CreateTopics returns once the controller accepted the topics, before every
// broker knows them; producing earlier fails with UNKNOWN_TOPIC_OR_PARTITION.
func waitForTopics(ctx context.Context, client *kafka.Client, names []string, want map[string]int, log *slog.Logger) error {
	warned := map[string]bool{}
	for attempt := 1; ; attempt++ {
		missing, err := unreadyTopics(ctx, client, names, want, warned, log)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("not ready: %v", missing)
		}
		if !sleep(ctx, backoff(attempt, 20*time.Millisecond, 500*time.Millisecond)) {
			return fmt.Errorf("bus: wait for topics: %w (last: %w)", ctx.Err(), err)
		}
	}
}

func unreadyTopics(ctx context.Context, client *kafka.Client, names []string, want map[string]int, warned map[string]bool, log *slog.Logger) ([]string, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, err
	}
	ready := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			continue
		}
		led := true
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				led = false
				break
			}
		}
		if !led {
			continue
		}
		ready[t.Name] = true
		if n := want[t.Name]; n > 0 && n != len(t.Partitions) && !warned[t.Name] {
			warned[t.Name] = true
			log.Warn("bus: existing topic has a different partition count than its spec; not changed",
				slog.String("topic", t.Name), slog.Int("partitions", len(t.Partitions)), slog.Int("spec", n))
		}
	}
	var missing []string
	for _, n := range names {
		if !ready[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
