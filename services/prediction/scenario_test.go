package prediction_test

import (
	"context"
	"errors"
	"math"
	"net"
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
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	"github.com/stratahq/strata/services/prediction"
	"github.com/stratahq/strata/services/prediction/scoring"
)

// runScenario starts the service on brokers with topics of its own and checks the
// consume → score → publish path and the gRPC API.
func runScenario(t *testing.T, brokers []string) {
	tp := prediction.Topics{
		Events:      bustest.Topic(t, brokers, 2),
		Profiles:    bustest.Topic(t, brokers, 2),
		Predictions: bustest.Topic(t, brokers, 2),
		Group:       bustest.Group(t),
	}
	var lc net.ListenConfig
	gl, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := prediction.DefaultConfig()
	cfg.Server = server.Config{GRPCListener: gl, HTTPListener: hl, ShutdownTimeout: 5 * time.Second}
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
		mu    sync.Mutex
		preds []*predictionv1.Prediction
	)
	consumer, err := bus.NewConsumer(bustest.ConsumerTuning(bus.ConsumerConfig{
		Config: bus.Config{Brokers: brokers}, GroupID: bustest.Group(t), Topics: []string{tp.Predictions},
	}), func(_ context.Context, m bus.Message) error {
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

	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := predictionv1.NewPredictionServiceClient(conn)
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
	var lc2 net.ListenConfig
	gl2, err := lc2.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl2, err := lc2.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server = server.Config{GRPCListener: gl2, HTTPListener: hl2, ShutdownTimeout: 5 * time.Second}
	start(t, cfg)
	conn2, err := grpc.NewClient(gl2.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn2.Close() })
	client2 := predictionv1.NewPredictionServiceClient(conn2)
	var again *predictionv1.Prediction
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if again, err = client2.Predict(rctx, &predictionv1.PredictRequest{UserId: user}); err == nil && again.GetClvMinor() == p.GetClvMinor() {
			break
		}
	}
	if err != nil || again.GetClvMinor() != p.GetClvMinor() {
		t.Errorf("after restart: Predict got %v, %v; want the CLV %d rebuilt from retained events", again, err, p.GetClvMinor())
	}
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
