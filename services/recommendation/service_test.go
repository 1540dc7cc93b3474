package recommendation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/engine"
)

// runServiceScenario runs the service against brokers and Redis and drives it as the
// suite does: catalog items and events through Kafka, questions through gRPC. It checks
// that events become histories the models train on, that a buyer's list leaves out what
// they bought, with reasons, and is refreshed through Kafka after a purchase, and that
// similar items come from the trained model. Unit tests run it on the embedded stack,
// integration tests on real Kafka and Redis.
func runServiceScenario(t *testing.T, brokers []string, redis cache.Config) {
	tp := Topics{Events: bustest.Topic(t, brokers, 3), Catalog: bustest.Topic(t, brokers, 3), Segments: bustest.Topic(t, brokers, 3), SegmentDefinitions: bustest.Topic(t, brokers, 1), Group: bustest.Group(t)}
	conn := startService(t, Config{
		Kafka: bus.Config{Brokers: brokers}, Redis: redis, Topics: tp,
		TrainDelay: time.Hour, TrainInterval: time.Hour,
		Engine: &engine.Config{
			Variants:     []engine.Variant{{Name: "ease", Model: engine.ModelEASE, Share: 100}},
			EASE:         ease.Config{Lambda: 1},
			RedisTimeout: 2 * time.Second,
		},
	})
	client := recommendationv1.NewRecommendationServiceClient(conn)
	ctx := t.Context()

	sfx := suffix()
	item := func(s string) string { return s + "-" + sfx }
	p := bustest.Producer(t, brokers, bus.ProducerConfig{})
	var msgs []bus.Message
	for _, g := range []string{"g", "a"} {
		for i := 1; i <= 4; i++ {
			b, err := proto.Marshal(&eventv1.CatalogItem{
				ItemId: item(fmt.Sprintf("%s%d", g, i)), Title: fmt.Sprintf("Course %s%d", g, i), Category: item(g),
				Type: eventv1.ItemType_ITEM_TYPE_COURSE, PriceMinor: 990,
			})
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, bus.Message{Topic: tp.Catalog, Key: []byte(item(fmt.Sprintf("%s%d", g, i))), Value: b})
		}
	}
	// Twelve users in two taste groups; each buys three of their group's four items.
	for u := range 12 {
		user, g := item(fmt.Sprintf("u%02d", u)), "g"
		if u%2 == 1 {
			g = "a"
		}
		var products []any
		for i := 1; i <= 4; i++ {
			if i != 1+u%4 {
				products = append(products, map[string]any{"product_id": item(fmt.Sprintf("%s%d", g, i))})
			}
		}
		msgs = append(msgs, event(t, tp.Events, user, "Order Completed", map[string]any{"order_id": "o-" + user, "products": products}))
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}

	// The catalog and the events arrive on different topics, so a run may see the orders
	// before the titles; train until a run has both (reasons name titles).
	u00 := item("u00") // bought g2, g3 and g4
	var run *recommendationv1.TrainingRun
	var got *recommendationv1.RecommendResponse
	eventually(t, 90*time.Second, "a training run over the twelve users and the catalog", func() bool {
		r, err := client.Train(ctx, &recommendationv1.TrainRequest{Wait: true})
		if err != nil {
			t.Logf("Train: %v", err)
			return false
		}
		run = r
		if r.GetStatus() != recommendationv1.TrainingStatus_TRAINING_STATUS_SUCCEEDED || r.GetUsers() < 12 || r.GetListsWritten() < 12 {
			return false
		}
		got, err = client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: u00, N: 3})
		if err != nil {
			t.Logf("Recommend: %v", err)
			return false
		}
		return len(got.GetItems()) > 0 && strings.HasPrefix(got.GetItems()[0].GetReason(), "because you bought “Course ")
	})
	if run.GetEaseItems() < 8 {
		t.Errorf("run: got %d EASE items, want at least 8", run.GetEaseItems())
	}
	runs, err := client.ListTrainingRuns(ctx, &recommendationv1.ListTrainingRunsRequest{Limit: 1})
	if err != nil {
		t.Fatalf("ListTrainingRuns: %v", err)
	}
	if len(runs.GetRuns()) != 1 || runs.GetRuns()[0].GetId() != run.GetId() || runs.GetRuns()[0].GetHoldoutUsers() == 0 {
		t.Errorf("ListTrainingRuns: got %v, want the latest run %s with holdout metrics", runs.GetRuns(), run.GetId())
	}

	if len(got.GetItems()) == 0 || got.GetItems()[0].GetItemId() != item("g1") || !strings.HasPrefix(got.GetItems()[0].GetReason(), "because you bought “Course g") {
		t.Fatalf("u00: got %v, want %s first, because you bought a go course", got.GetItems(), item("g1"))
	}
	if got.GetSource() != "cache" || got.GetVariant() != "ease" || got.GetModelVersion() != run.GetModelVersion() {
		t.Errorf("u00: got source %s, variant %s, version %s; want cache, ease, %s", got.GetSource(), got.GetVariant(), got.GetModelVersion(), run.GetModelVersion())
	}

	// Buying g1 refreshes the list at once, through Kafka.
	buy := event(t, tp.Events, u00, "Order Completed", map[string]any{"order_id": "o2-" + u00, "products": []any{map[string]any{"product_id": item("g1")}}})
	if err := p.Publish(ctx, buy); err != nil {
		t.Fatalf("publish purchase: %v", err)
	}
	eventually(t, 60*time.Second, "u00's list without g1", func() bool {
		got, err := client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: u00, N: 10})
		return err == nil && len(got.GetItems()) > 0 && !slices.ContainsFunc(got.GetItems(), func(r *recommendationv1.Recommendation) bool {
			return r.GetItemId() == item("g1")
		})
	})

	// Dismissing the first item of u00's list leaves it out of the next one, at once.
	before, err := client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: u00, N: 10})
	if err != nil || len(before.GetItems()) == 0 {
		t.Fatalf("Recommend before dismissing: got %v, %v; want a list", before.GetItems(), err)
	}
	dismissed := before.GetItems()[0].GetItemId()
	if _, err := client.Feedback(ctx, &recommendationv1.FeedbackRequest{UserId: u00, ItemId: dismissed, Action: recommendationv1.FeedbackAction_FEEDBACK_ACTION_DISMISS}); err != nil {
		t.Fatalf("Feedback(dismiss): %v", err)
	}
	after, err := client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: u00, N: 10})
	if err != nil || slices.ContainsFunc(after.GetItems(), func(r *recommendationv1.Recommendation) bool { return r.GetItemId() == dismissed }) {
		t.Errorf("Recommend after dismissing %s: got %v, %v; want a list without it", dismissed, after.GetItems(), err)
	}
	for _, tt := range []struct {
		name, field string
		req         *recommendationv1.FeedbackRequest
	}{
		{"no user", "user_id", &recommendationv1.FeedbackRequest{ItemId: "x", Action: recommendationv1.FeedbackAction_FEEDBACK_ACTION_CLICK}},
		{"no item", "item_id", &recommendationv1.FeedbackRequest{UserId: u00, Action: recommendationv1.FeedbackAction_FEEDBACK_ACTION_CLICK}},
		{"long item", "item_id", &recommendationv1.FeedbackRequest{UserId: u00, ItemId: strings.Repeat("x", 129), Action: recommendationv1.FeedbackAction_FEEDBACK_ACTION_CLICK}},
		{"no action", "action", &recommendationv1.FeedbackRequest{UserId: u00, ItemId: "x"}},
		{"undefined action", "action", &recommendationv1.FeedbackRequest{UserId: u00, ItemId: "x", Action: 42}},
	} {
		_, err := client.Feedback(ctx, tt.req)
		if got := status.Code(err); got != codes.InvalidArgument || violatedField(err) != tt.field {
			t.Errorf("Feedback(%s): got %v naming %q, want InvalidArgument naming %s", tt.name, got, violatedField(err), tt.field)
		}
	}

	sim, err := client.SimilarItems(ctx, &recommendationv1.SimilarItemsRequest{ItemId: item("a1"), N: 3})
	if err != nil {
		t.Fatalf("SimilarItems: %v", err)
	}
	if len(sim.GetItems()) != 3 {
		t.Fatalf("SimilarItems(a1): got %v, want 3 items", sim.GetItems())
	}
	for _, r := range sim.GetItems() {
		if !strings.HasPrefix(r.GetItemId(), "a") || r.GetItemId() == item("a1") {
			t.Errorf("SimilarItems(a1): got %s, want the other art courses", r.GetItemId())
		}
	}

	// Segments through Kafka: the art buyers are in a segment, and a new member of it gets
	// what the segment likes once the models retrain, in the segment's name.
	seg, newbie := item("artists"), item("newbie")
	var segMsgs []bus.Message
	for _, u := range []string{"u01", "u03", "u05", "u07", "u09", "u11", "newbie"} {
		b, err := proto.Marshal(&profilev1.SegmentEvent{UserId: item(u), SegmentId: seg, Type: profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER})
		if err != nil {
			t.Fatal(err)
		}
		segMsgs = append(segMsgs, bus.Message{Topic: tp.Segments, Key: []byte(item(u)), Value: b})
	}
	def, err := proto.Marshal(&profilev1.Segment{SegmentId: seg, Name: "Artists " + sfx, Rule: "true"})
	if err != nil {
		t.Fatal(err)
	}
	segMsgs = append(segMsgs, bus.Message{Topic: tp.SegmentDefinitions, Key: []byte(seg), Value: def})
	if err := p.Publish(ctx, segMsgs...); err != nil {
		t.Fatalf("publish segment events: %v", err)
	}
	eventually(t, 60*time.Second, "a new segment member's list of what the segment likes", func() bool {
		if _, err := client.Train(ctx, &recommendationv1.TrainRequest{Wait: true}); err != nil {
			return false
		}
		got, err := client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: newbie, N: 3})
		return err == nil && got.GetSource() == "segment" && len(got.GetItems()) == 3 &&
			strings.HasPrefix(got.GetItems()[0].GetItemId(), "a") && got.GetItems()[0].GetReason() == "popular with learners in Artists "+sfx
	})
}

func event(t testing.TB, topic, user, name string, props map[string]any) bus.Message {
	t.Helper()
	p, err := structpb.NewStruct(props)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&eventv1.Event{
		EventId: "e-" + suffix(), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: name, UserId: user,
		Timestamp: timestamppb.Now(), Properties: p,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: topic, Key: []byte(user), Value: b}
}

func suffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startService runs the service with cfg on free loopback ports until the test ends and
// returns a connection to its gRPC server once it reports serving.
func startService(t testing.TB, cfg Config) *grpc.ClientConn {
	t.Helper()
	var lc net.ListenConfig
	gl, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server = server.Config{GRPCListener: gl, HTTPListener: hl, ShutdownTimeout: 10 * time.Second}
	cfg.Logger = bustest.Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("Run did not stop within 60s")
		}
	})
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	eventually(t, 60*time.Second, "the service to serve", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run stopped early: %v", err)
		default:
		}
		r, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	return conn
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// violatedField is the first field violation of err's details ("" without one).
func violatedField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
