package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/sink"
	"github.com/stratahq/strata/services/strata/suitetest"
	"github.com/stratahq/strata/services/strata/world"
)

// TestIntoSuite sends a small world into a running suite through each network sink and
// checks that the suite's ingest takes it: every user's profile counts each of the
// user's events once.
func TestIntoSuite(t *testing.T) {
	t.Parallel()
	s := suitetest.Start(t, strata.Config{})
	tests := []struct {
		name string
		open func(ctx context.Context) (sink.Sink, error)
	}{
		{"http", func(context.Context) (sink.Sink, error) {
			return sink.NewHTTP(sink.HTTPConfig{URL: "http://" + s.HTTP, WriteKey: s.WriteKey, AdminKey: s.AdminKey})
		}},
		{"grpc", func(context.Context) (sink.Sink, error) {
			return sink.NewGRPC(sink.GRPCConfig{Addr: s.GRPC, Token: s.AdminKey})
		}},
		{"kafka", func(ctx context.Context) (sink.Sink, error) {
			return sink.NewKafka(ctx, sink.KafkaConfig{Brokers: s.Brokers})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			w, err := world.New(world.Config{
				Seed: 21, Users: 12, Items: 30, Days: 20, Prefix: suitetest.UserID(tt.name) + "-",
				End: time.Now().UTC().Truncate(24 * time.Hour),
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := tt.open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := out.SendItems(ctx, w.Items()); err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]int64{}
			if err := w.Generate(ctx, func(m sink.Message) error {
				if want[m.UserID] == nil {
					want[m.UserID] = map[string]int64{}
				}
				name := m.Event
				if name == "" {
					name = m.Type
				}
				want[m.UserID][name]++
				return out.Send(ctx, m)
			}); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(ctx); err != nil {
				t.Fatal(err)
			}
			client := profilev1.NewProfileServiceClient(s.Conn)
			// Ingest may add events of its own (an identity merge), so each of the
			// world's event names is compared, not the total.
			for user, counts := range want {
				suitetest.Eventually(t, 60*time.Second, fmt.Sprintf("profile of %s counting %v", user, counts), func() bool {
					p, err := client.GetProfile(s.Admin(ctx), &profilev1.GetProfileRequest{UserId: user})
					if err != nil {
						return false
					}
					for name, n := range counts {
						if got := p.GetEventCounts()[name]; got > n {
							t.Fatalf("profile of %s counts %d %q events, want %d: some were counted twice", user, got, name, n)
						} else if got < n {
							return false
						}
					}
					return true
				})
			}
		})
	}
}
