package prediction

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// readRetained reads every partition of topic from its oldest retained offset up to
// its end as of the call (bus.Scan), handing each event to apply, never concurrently;
// undecodable messages are skipped (the consumer group dead-letters them). It rebuilds
// the engine's per-user state after a restart, since the group resumes from its
// committed offsets; events the group redelivers afterwards are deduplicated by event id.
func readRetained(ctx context.Context, cfg bus.Config, topic string, apply func(partition int32, ev *eventv1.Event)) (int, error) {
	n := 0
	err := bus.Scan(ctx, cfg, topic, func(_ context.Context, m bus.Message) error {
		var ev eventv1.Event
		if proto.Unmarshal(m.Value, &ev) == nil {
			apply(int32(m.Partition), &ev)
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("prediction: warm-up from %s: %w", topic, err)
	}
	return n, nil
}
