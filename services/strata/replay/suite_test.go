package replay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/replay"
	"github.com/stratahq/strata/services/strata/sink"
	"github.com/stratahq/strata/services/strata/suitetest"
)

// replayThroughSuite replays srcs, whose user ids all start with prefix, through the
// suite's Segment API and checks that they arrive: every user's profile counts exactly
// that user's rows, and the profiles under prefix are exactly the users replayed.
func replayThroughSuite(t *testing.T, s *suitetest.Suite, prefix string, timeout time.Duration, srcs ...replay.Source) {
	t.Helper()
	ctx := context.Background()
	want := map[string]int64{}
	h, err := sink.NewHTTP(sink.HTTPConfig{URL: "http://" + s.HTTP, WriteKey: s.WriteKey, AdminKey: s.AdminKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		res, err := replay.Run(ctx, src, countUsers{Sink: h, want: want})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		t.Logf("replayed %d events and %d items", res.Messages, res.Items)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatalf("replay: %v", err)
	}

	client := profilev1.NewProfileServiceClient(s.Conn)
	pending := map[string]int64{}
	for u, n := range want {
		pending[u] = n
	}
	start := time.Now()
	last := map[string]string{}
	for len(pending) > 0 {
		if time.Since(start) > timeout {
			var eg []string
			for _, s := range last {
				if eg = append(eg, s); len(eg) == 5 {
					break
				}
			}
			t.Fatalf("after %v, %d of %d profiles are incomplete, e.g. %s", timeout, len(pending), len(want), strings.Join(eg, "; "))
		}
		for u, n := range pending {
			cctx, cancel := context.WithTimeout(s.Admin(ctx), 5*time.Second)
			p, err := client.GetProfile(cctx, &profilev1.GetProfileRequest{UserId: u})
			cancel()
			switch {
			case err != nil:
				last[u] = fmt.Sprintf("%s: %v", u, err)
			case p.GetEventsTotal() > n:
				t.Fatalf("profile %s counts %d events, want %d: events were counted twice", u, p.GetEventsTotal(), n)
			case p.GetEventsTotal() < n:
				last[u] = fmt.Sprintf("%s: %d of %d events", u, p.GetEventsTotal(), n)
			default:
				delete(pending, u)
				delete(last, u)
			}
		}
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d profiles complete %v after the last event was accepted", len(want), time.Since(start).Round(time.Millisecond))

	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	var keys int
	iter := rdb.Scan(ctx, 0, cache.ProfileKey(prefix+"*"), 1000).Iterator()
	for iter.Next(ctx) {
		keys++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if keys != len(want) {
		t.Errorf("profiles under prefix %q: got %d, want %d, one per replayed user", prefix, keys, len(want))
	}
}

// countUsers counts the messages of each user on their way to the sink.
type countUsers struct {
	sink.Sink
	want map[string]int64
}

func (c countUsers) Send(ctx context.Context, m sink.Message) error {
	c.want[m.UserID]++
	return c.Sink.Send(ctx, m)
}

func TestReplayEmbedded(t *testing.T) {
	t.Parallel()
	s := suitetest.Start(t, strata.Config{})
	prefix := suitetest.UserID("replay") + "-"
	ml, err := replay.OpenMovieLens("testdata", replay.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cd, err := replay.OpenCDNOW("testdata/cdnow_master.txt", replay.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	replayThroughSuite(t, s, prefix, 30*time.Second, ml, cd)
}
