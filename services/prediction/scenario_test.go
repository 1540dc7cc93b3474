package prediction_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/server/servertest"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/prediction"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// runScenario starts the service on brokers with topics of its own and checks the
// consume → score → publish path, the gRPC API, the rebuild after a restart and the
// right to erasure.
func runScenario(t *testing.T, brokers []string) {
	tp := prediction.Topics{
		Events:       bustest.Topic(t, brokers, 2),
		Profiles:     bustest.Topic(t, brokers, 2),
		Predictions:  bustest.Topic(t, brokers, 2),
		Group:        bustest.Group(t),
		Privacy:      bustest.Topic(t, brokers, 2),
		PrivacyGroup: bustest.Group(t),
		Receipts:     bustest.Topic(t, brokers, 2),
	}
	cfg := prediction.DefaultConfig()
	cfg.Server = servertest.Loopback(t, 5*time.Second)
	cfg.Kafka = bus.Config{Brokers: brokers}
	cfg.Consumer = bustest.ConsumerTuning(bus.ConsumerConfig{})
	cfg.Scoring = scoring.Config{Debounce: 100 * time.Millisecond, RetrainInterval: -1}
	cfg.Registry.Dir = t.TempDir()
	cfg.Topics = tp
	cfg.Logger = bustest.Logger(t)
	stop := start(t, cfg)

	// Collect predictions for our user as they are published.
	user := bustest.Name(t, "user")
	var (
		mu         sync.Mutex
		preds      []*predictionv1.Prediction
		tombstones int
	)
	consumer, err := bus.NewConsumer(bustest.ConsumerTuning(bus.ConsumerConfig{
		Config: bus.Config{Brokers: brokers}, GroupID: bustest.Group(t), Topics: []string{tp.Predictions},
	}), func(_ context.Context, m bus.Message) error {
		if m.Value == nil {
			if string(m.Key) == user {
				mu.Lock()
				tombstones++
				mu.Unlock()
			}
			return nil
		}
		var p predictionv1.Prediction
		if err := proto.Unmarshal(m.Value, &p); err != nil {
			return err
		}
		if string(m.Key) == user {
			mu.Lock()
			preds = append(preds, &p)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() { defer close(cdone); _ = consumer.Run(cctx) }()
	t.Cleanup(func() { ccancel(); <-cdone })

	now := time.Now()
	var msgs []bus.Message
	for i, daysAgo := range []int{60, 31, 9} {
		ev := &eventv1.Event{
			EventId: user + "-" + string(rune('a'+i)), Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Order Completed",
			UserId: user, Timestamp: timestamppb.New(now.Add(-time.Duration(daysAgo) * 24 * time.Hour)),
			Order: &eventv1.Order{OrderId: user + "-o" + string(rune('a'+i)), RevenueMinor: 4900, Currency: "CNY"},
		}
		b, _ := proto.Marshal(ev)
		msgs = append(msgs, bus.Message{Topic: tp.Events, Key: []byte(user), Value: b})
	}
	pub := bustest.Producer(t, brokers, bus.ProducerConfig{})
	if err := pub.Publish(context.Background(), msgs...); err != nil {
		t.Fatalf("publish events: %v", err)
	}

	deadline := time.Now().Add(60 * time.Second)
	var got *predictionv1.Prediction
	for got == nil && time.Now().Before(deadline) {
		mu.Lock()
		for _, p := range preds {
			if p.GetClvMinor() > 0 {
				got = p
			}
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("no prediction with a CLV for %s published within 60s", user)
	}
	if got.GetPAlive() <= 0 || got.GetPAlive() > 1 || got.GetCurrency() != "CNY" ||
		got.GetModelVersions()[scoring.ModelCLV] != scoring.PriorCLVVersion {
		t.Errorf("published prediction: got %v", got)
	}

	client := dial(t, cfg.Server)
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	p, err := client.Predict(rctx, &predictionv1.PredictRequest{UserId: user})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if p.GetClvMinor() != got.GetClvMinor() && math.Abs(float64(p.GetClvMinor()-got.GetClvMinor())) > 100 {
		t.Errorf("Predict CLV %d, published %d: want about equal", p.GetClvMinor(), got.GetClvMinor())
	}
	ex, err := client.Explain(rctx, &predictionv1.ExplainRequest{UserId: user, Model: predictionv1.Model_MODEL_LIFETIME_VALUE})
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	sum := ex.GetBaseValue()
	for _, c := range ex.GetContributions() {
		sum += c.GetContribution()
	}
	if math.Abs(sum-ex.GetScore()) > 1e-6 || len(ex.GetContributions()) == 0 {
		t.Errorf("Explain: base + Σ = %v, score %v, %d contributions", sum, ex.GetScore(), len(ex.GetContributions()))
	}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"Predict unknown user", func() error {
			_, err := client.Predict(rctx, &predictionv1.PredictRequest{UserId: "nobody-" + user})
			return err
		}, codes.NotFound},
		{"Predict without user", func() error {
			_, err := client.Predict(rctx, &predictionv1.PredictRequest{})
			return err
		}, codes.InvalidArgument},
		{"Explain without a propensity model", func() error {
			_, err := client.Explain(rctx, &predictionv1.ExplainRequest{UserId: user, Model: predictionv1.Model_MODEL_PURCHASE_PROPENSITY})
			return err
		}, codes.FailedPrecondition},
		{"Rollback with one version", func() error {
			_, err := client.RollbackModel(rctx, &predictionv1.RollbackModelRequest{Model: predictionv1.Model_MODEL_LIFETIME_VALUE})
			return err
		}, codes.FailedPrecondition},
	}
	for _, tt := range tests {
		if got := status.Code(tt.call()); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	list, err := client.ListModels(rctx, &predictionv1.ListModelsRequest{})
	if err != nil || len(list.GetModels()) != 1 || !list.GetModels()[0].GetPromoted() ||
		list.GetModels()[0].GetModel() != predictionv1.Model_MODEL_LIFETIME_VALUE {
		t.Errorf("ListModels: got %v, %v; want the promoted prior CLV", list, err)
	}
	tr, err := client.TrainModels(rctx, &predictionv1.TrainModelsRequest{})
	if err != nil {
		t.Fatalf("TrainModels: %v", err)
	}
	for _, r := range tr.GetResults() {
		if r.GetPromoted() || r.GetReason() == "" {
			t.Errorf("TrainModels with one user: %v, want nothing promoted, with a reason", r)
		}
	}

	// A restarted instance rebuilds the user's state from the retained events,
	// although its group has committed them all.
	stop()
	cfg.Server = servertest.Loopback(t, 5*time.Second)
	stop = start(t, cfg)
	client2 := dial(t, cfg.Server)
	var again *predictionv1.Prediction
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if again, err = client2.Predict(rctx, &predictionv1.PredictRequest{UserId: user}); err == nil && again.GetClvMinor() == p.GetClvMinor() {
			break
		}
	}
	if err != nil || again.GetClvMinor() != p.GetClvMinor() {
		t.Errorf("after restart: Predict got %v, %v; want the CLV %d rebuilt from retained events", again, err, p.GetClvMinor())
	}

	checkErasure(t, cfg, stop, pub, user, func() int {
		mu.Lock()
		defer mu.Unlock()
		return tombstones
	}, client2)
}

// checkErasure requests the erasure of user on the privacy topic, twice (a
// redelivery), and checks that the service forgets the user and tombstones the
// prediction, and that a restart, which replays the retained events, does not bring the
// user back.
func checkErasure(t *testing.T, cfg prediction.Config, stop func(), pub *bus.Producer, user string,
	tombstones func() int, client predictionv1.PredictionServiceClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	requestID := bustest.Name(t, "erase")
	req, err := proto.Marshal(&privacyv1.PrivacyRequest{RequestId: requestID, UserId: user,
		Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE, RequestedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	erase := bus.Message{Topic: cfg.Topics.Privacy, Key: []byte(user), Value: req}
	if err := pub.Publish(ctx, erase, erase); err != nil {
		t.Fatalf("publish erasure request: %v", err)
	}
	for tombstones() < 2 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if got := tombstones(); got < 2 {
		t.Fatalf("prediction tombstones for the erased user: got %d, want 2 (one per delivery of the request)", got)
	}
	// Both deliveries published the receipt, after the tombstone: the first counts the
	// state, the redelivery nothing.
	var items []int64
	for len(items) < 2 && err == nil && ctx.Err() == nil {
		items = nil
		err = bus.Scan(ctx, cfg.Kafka, cfg.Topics.Receipts, func(_ context.Context, m bus.Message) error {
			var r privacyv1.ErasureReceipt
			if err := proto.Unmarshal(m.Value, &r); err != nil {
				return err
			}
			if string(m.Key) == requestID+"/"+scoring.ReceiptService && r.GetUserId() == user {
				items = append(items, r.GetItems())
			}
			return nil
		})
		if len(items) < 2 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err != nil || !slices.Equal(items, []int64{1, 0}) {
		t.Errorf("receipts of %s: got items %v (%v), want [1 0]", requestID, items, err)
	}
	for _, call := range []func() error{
		func() error { _, err := client.Predict(ctx, &predictionv1.PredictRequest{UserId: user}); return err },
		func() error {
			_, err := client.Explain(ctx, &predictionv1.ExplainRequest{UserId: user, Model: predictionv1.Model_MODEL_LIFETIME_VALUE})
			return err
		},
	} {
		if got := status.Code(call()); got != codes.NotFound {
			t.Errorf("after the erasure: got %v, want NotFound", got)
		}
	}

	// Another user's event, to tell when the restarted instance has warmed up.
	other := bustest.Name(t, "other")
	ev, err := proto.Marshal(&eventv1.Event{EventId: other + "-a", Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Lesson Completed",
		UserId: other, Timestamp: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, bus.Message{Topic: cfg.Topics.Events, Key: []byte(other), Value: ev}); err != nil {
		t.Fatalf("publish event: %v", err)
	}
	stop()
	cfg.Server = servertest.Loopback(t, 5*time.Second)
	start(t, cfg)
	restarted := dial(t, cfg.Server)
	for ctx.Err() == nil {
		if _, err = restarted.Predict(ctx, &predictionv1.PredictRequest{UserId: other}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restarted instance: Predict other user: %v", err)
	}
	if _, err := restarted.Predict(ctx, &predictionv1.PredictRequest{UserId: user}); status.Code(err) != codes.NotFound {
		t.Errorf("restarted instance: Predict erased user: got %v, want NotFound (not rebuilt from the retained events)", err)
	}
}

// dial returns a client of the service listening on srv.
func dial(t *testing.T, srv server.Config) predictionv1.PredictionServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.GRPCListener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return predictionv1.NewPredictionServiceClient(conn)
}

// start runs the service until the returned stop is called or the test ends.
func start(t *testing.T, cfg prediction.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- prediction.Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
