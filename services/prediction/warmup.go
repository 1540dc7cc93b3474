package prediction

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// readRetained reads every partition of topic from its oldest retained offset up to
// its end as of the call (bus.Scan), handing each event to apply, never concurrently;
// undecodable messages are skipped (the consumer group dead-letters them). It rebuilds
// the engine's per-user state after a restart, since the group resumes from its
// committed offsets; events the group redelivers afterwards are deduplicated by event id.
func readRetained(ctx context.Context, cfg bus.Config, topic string, apply func(partition int32, at time.Time, ev *eventv1.Event)) (int, error) {
	n := 0
	err := bus.Scan(ctx, cfg, topic, func(_ context.Context, m bus.Message) error {
		var ev eventv1.Event
		if proto.Unmarshal(m.Value, &ev) == nil {
			apply(int32(m.Partition), m.Time, &ev)
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("prediction: warm-up from %s: %w", topic, err)
	}
	return n, nil
}

// readErasures reads every retained record of the privacy topic (bus.Scan) and calls
// erase with the user and record time of each erasure request; other actions and
// undecodable records are skipped (the privacy consumer dead-letters the latter). The
// privacy topic retains requests at least as long as strata.events.v1 retains events,
// so every retained event of an erased user recorded before the erasure is matched.
func readErasures(ctx context.Context, cfg bus.Config, topic string, erase func(userID string, at time.Time)) (int, error) {
	n := 0
	err := bus.Scan(ctx, cfg, topic, func(_ context.Context, m bus.Message) error {
		if r, err := scoring.ErasureOf(m); err == nil && r != nil {
			erase(r.GetUserId(), m.Time)
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("prediction: erasures from %s: %w", topic, err)
	}
	return n, nil
}
