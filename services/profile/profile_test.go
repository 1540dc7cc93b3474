package profile_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/alicebob/miniredis/v2"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server/servertest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile"
	"github.com/stratahq/strata/services/profile/changelog"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
)

// instance is a running profile service.
type instance struct {
	client profilev1.ProfileServiceClient
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs the service with cfg (Server is filled in) until the test ends or stop.
func start(t testing.TB, cfg profile.Config) *instance {
	t.Helper()
	cfg.Server = servertest.Loopback(t, 5*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = bustest.Logger(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- profile.Run(ctx, cfg) }()
	conn, err := grpc.NewClient(cfg.Server.GRPCListener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	in.client = profilev1.NewProfileServiceClient(conn)
	t.Cleanup(func() {
		in.stop(t)
		_ = conn.Close()
	})
	return in
}

func (in *instance) stop(t testing.TB) {
	t.Helper()
	in.once.Do(func() {
		in.cancel()
		select {
		case err := <-in.done:
			if err != nil {
				t.Errorf("profile.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("profile.Run did not return")
		}
	})
}

// progress returns the events and predictions applied to the profiles in s.
func progress(t testing.TB, s *store.Store) (events, predictions int64) {
	t.Helper()
	err := s.Scan(context.Background(), func(batch []*profilev1.Profile) error {
		for _, p := range batch {
			events += p.GetEventsTotal()
			if p.GetPredictions() != nil {
				predictions++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return events, predictions
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func track(user, name string, at time.Time, props map[string]any) *eventv1.Event {
	s, _ := structpb.NewStruct(props)
	return &eventv1.Event{EventId: fmt.Sprintf("%s-%s-%d", user, name, at.UnixNano()), Type: eventv1.EventType_EVENT_TYPE_TRACK,
		Event: name, UserId: user, Timestamp: timestamppb.New(at), Properties: s}
}

func message(t testing.TB, topic, key string, m proto.Message) bus.Message {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: topic, Key: []byte(key), Value: b}
}

// segmentEvents reads every enter/exit event published to topic so far.
func segmentEvents(t testing.TB, kafka bus.Config, topic string) []string {
	t.Helper()
	var (
		mu  sync.Mutex
		out []string
	)
	err := changelog.Read(context.Background(), kafka, topic, func(_ context.Context, m bus.Message) error {
		e := &profilev1.SegmentEvent{}
		if err := proto.Unmarshal(m.Value, e); err != nil {
			return err
		}
		mu.Lock()
		out = append(out, fmt.Sprintf("%s:%s:%s", e.GetType().String()[len("SEGMENT_EVENT_TYPE_"):], e.GetSegmentId(), e.GetUserId()))
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("read segment events: %v", err)
	}
	slices.Sort(out)
	return out
}

func TestServiceEndToEnd(t *testing.T) {
	t.Parallel()
	brokers := bustest.Brokers(t)
	redis := miniredis.RunT(t)
	kafka := bus.Config{Brokers: brokers}
	cfg := profile.Config{
		Kafka: kafka, Redis: cache.Config{Addrs: []string{redis.Addr()}},
		Profile: profile.Settings{SegmentPollInterval: 100 * time.Millisecond},
	}
	ctx := context.Background()
	if err := bus.EnsureTopics(ctx, kafka, topics.All()...); err != nil {
		t.Fatal(err)
	}
	in := start(t, cfg)
	producer := bustest.Producer(t, brokers, bus.ProducerConfig{})
	now := time.Now().UTC()

	var msgs []bus.Message
	for i, user := range []string{"ann", "bob", "cat"} {
		for j := range i + 1 {
			msgs = append(msgs, message(t, topics.Events, user, track(user, state.EventLessonCompleted, now.Add(-time.Duration(j)*time.Minute), map[string]any{"minutes": 10})))
		}
	}
	if err := producer.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var p *profilev1.Profile
	for i, user := range []string{"ann", "bob", "cat"} {
		eventually(t, 30*time.Second, user+"'s profile", func() bool {
			var err error
			p, err = in.client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: user})
			return err == nil && p.GetAggregates().GetD7().GetLessonsCompleted() == int64(i+1)
		})
	}
	if p.GetLifecycle().GetStage() != state.StageNew || p.GetAggregates().GetLifetime().GetLearningMinutes() != 30 {
		t.Errorf("cat: got stage %q minutes %v, want new and 30", p.GetLifecycle().GetStage(), p.GetAggregates().GetLifetime().GetLearningMinutes())
	}

	// A segment: back-filled over the existing profiles, then followed in real time.
	seg, err := in.client.CreateSegment(ctx, &profilev1.CreateSegmentRequest{SegmentId: "keen", Name: "Keen", Rule: `p.aggregates.d7.lessons_completed >= 2`})
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	eventually(t, 30*time.Second, "back-fill", func() bool {
		seg, err = in.client.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: "keen"})
		return err == nil && seg.GetStatus() == profilev1.SegmentStatus_SEGMENT_STATUS_READY
	})
	if seg.GetSize() != 2 {
		t.Errorf("keen members after back-fill: got %d, want 2", seg.GetSize())
	}
	if err := producer.Publish(ctx, message(t, topics.Events, "ann", track("ann", state.EventLessonCompleted, now.Add(time.Second), map[string]any{"minutes": 5}))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "ann joins keen", func() bool {
		p, err := in.client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "ann"})
		return err == nil && slices.Equal(p.GetSegments(), []string{"keen"})
	})
	want := []string{"ENTER:keen:ann", "ENTER:keen:bob", "ENTER:keen:cat"}
	eventually(t, 30*time.Second, "segment events", func() bool { return slices.Equal(segmentEvents(t, kafka, topics.Segments), want) })

	// A prediction reaches the profile.
	pred := &predictionv1.Prediction{UserId: "bob", ChurnRisk: 0.7, ScoredAt: timestamppb.New(now)}
	if err := producer.Publish(ctx, message(t, topics.Predictions, "bob", pred)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "bob's prediction", func() bool {
		p, err := in.client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "bob"})
		return err == nil && p.GetPredictions().GetChurnRisk() == 0.7
	})
	bob, err := in.client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "bob"})
	if err != nil {
		t.Fatal(err)
	}

	// Redis loses everything: a new instance rebuilds the profiles from the changelog, and
	// the segment from its topic.
	in.stop(t)
	redis.FlushAll()
	in2 := start(t, cfg)
	var got *profilev1.Profile
	eventually(t, 30*time.Second, "bob's restored profile", func() bool {
		got, err = in2.client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "bob"})
		return err == nil
	})
	if got.GetVersion() != bob.GetVersion() || got.GetPredictions().GetChurnRisk() != 0.7 || got.GetAggregates().GetLifetime().GetLessonsCompleted() != 2 {
		t.Errorf("restored bob: got version %d churn %v lessons %d, want %d 0.7 2", got.GetVersion(), got.GetPredictions().GetChurnRisk(),
			got.GetAggregates().GetLifetime().GetLessonsCompleted(), bob.GetVersion())
	}
	eventually(t, 30*time.Second, "keen back-filled again", func() bool {
		s, err := in2.client.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: "keen"})
		return err == nil && s.GetStatus() == profilev1.SegmentStatus_SEGMENT_STATUS_READY && s.GetSize() == 3
	})
	if _, err := in2.client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "nobody"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetProfile of an unknown user: got %v, want NotFound", err)
	}
	if _, err := in2.client.CreateSegment(ctx, &profilev1.CreateSegmentRequest{SegmentId: "bad", Name: "Bad", Rule: `p.nope`}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CreateSegment with a bad rule: got %v, want InvalidArgument", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	base := profile.DefaultConfig()
	base.Kafka.Brokers = []string{"127.0.0.1:9092"}
	base.Redis.Addrs = []string{"127.0.0.1:6379"}
	tests := []struct {
		name string
		edit func(*profile.Config)
		want error
	}{
		{"defaults", func(*profile.Config) {}, nil},
		{"no brokers", func(c *profile.Config) { c.Kafka.Brokers = nil }, bus.ErrMissingBrokers},
		{"no redis", func(c *profile.Config) { c.Redis.Addrs = nil }, cache.ErrMissingAddrs},
		{"negative half-life", func(c *profile.Config) { c.Profile.InterestHalfLife = -time.Hour }, profile.ErrInvalidSettings},
		{"negative days", func(c *profile.Config) { c.Profile.ChurnedAfterDays = -1 }, profile.ErrInvalidSettings},
	}
	for _, tt := range tests {
		c := base
		tt.edit(&c)
		if err := c.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Validate got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSettingsDeriver(t *testing.T) {
	t.Parallel()
	d := profile.Settings{DormantAfterDays: 60, InterestHalfLife: 7 * 24 * time.Hour}.Deriver()
	if d.Params.ReturnGap != 60*24*time.Hour || d.Lifecycle.DormantAfterDays != 60 || d.Params.InterestHalfLife != 7*24*time.Hour {
		t.Errorf("Deriver: got return gap %v dormant %d half-life %v", d.Params.ReturnGap, d.Lifecycle.DormantAfterDays, d.Params.InterestHalfLife)
	}
	if d.Lifecycle.ChurnedAfterDays != 90 || d.Params.SessionGap != 30*time.Minute {
		t.Errorf("defaults: got churned %d session gap %v, want 90 30m", d.Lifecycle.ChurnedAfterDays, d.Params.SessionGap)
	}
}
