//go:build integration

package profile_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile"
	"github.com/stratahq/strata/services/profile/changelog"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
)

// Redis databases the integration tests of this package own (they flush them); other
// packages' tests use other databases of the shared Redis.
const (
	takeoverDB = 10
	cleanDB    = 11
)

func infra(t testing.TB) ([]string, string) {
	t.Helper()
	brokers := bus.ParseBrokers(os.Getenv(bus.EnvBrokers))
	addr := os.Getenv("STRATA_REDIS_ADDR")
	if len(brokers) == 0 || addr == "" {
		t.Fatal("STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR must be set (eval \"$(scripts/infra env)\")")
	}
	return brokers, addr
}

// run describes one run of the service; it travels to the helper process in the
// environment.
type run struct {
	Brokers []string
	Redis   string
	DB      int
	Topics  profile.Topics
	Now     time.Time
}

const helperEnv = "STRATA_PROFILE_TEST_HELPER"

func (r run) env() []string {
	t := r.Topics
	return append(os.Environ(),
		helperEnv+"=1",
		"HELPER_BROKERS="+strings.Join(r.Brokers, ","),
		"HELPER_REDIS="+r.Redis,
		"HELPER_DB="+strconv.Itoa(r.DB),
		"HELPER_TOPICS="+strings.Join([]string{t.Events, t.Predictions, t.Profiles, t.Segments, t.SegmentDefinitions, t.Group}, ","),
		"HELPER_NOW="+strconv.FormatInt(r.Now.UnixNano(), 10),
	)
}

func runFromEnv() run {
	db, _ := strconv.Atoi(os.Getenv("HELPER_DB"))
	ns, _ := strconv.ParseInt(os.Getenv("HELPER_NOW"), 10, 64)
	t := strings.Split(os.Getenv("HELPER_TOPICS"), ",")
	return run{
		Brokers: strings.Split(os.Getenv("HELPER_BROKERS"), ","), Redis: os.Getenv("HELPER_REDIS"), DB: db, Now: time.Unix(0, ns).UTC(),
		Topics: profile.Topics{Events: t[0], Predictions: t[1], Profiles: t[2], Segments: t[3], SegmentDefinitions: t[4], Group: t[5]},
	}
}

func (r run) config(log *slog.Logger) profile.Config {
	return profile.Config{
		Kafka:  bus.Config{Brokers: r.Brokers},
		Redis:  cache.Config{Addrs: []string{r.Redis}, DB: r.DB},
		Topics: r.Topics,
		// A fixed clock makes the derived fields of two runs comparable.
		Now:          func() time.Time { return r.Now },
		Profile:      profile.Settings{RFMInterval: 1000 * time.Hour, SegmentPollInterval: 200 * time.Millisecond},
		TuneConsumer: bustest.ConsumerTuning,
		Logger:       log,
	}
}

// TestHelperInstance is the second instance of TestKillAndTakeOver, run as a child
// process so that it can be killed with SIGKILL.
func TestHelperInstance(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("runs as a child process of TestKillAndTakeOver")
	}
	r := runFromEnv()
	cfg := r.config(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	in := start(t, cfg)
	<-make(chan struct{}) // until killed
	in.stop(t)
}

// workload is a deterministic history: users with identify, lessons, views, carts,
// orders, refunds and ratings over 90 days, and predictions for some of them.
type workload struct {
	events      []bus.Message
	predictions []bus.Message
	users       []string
}

func newWorkload(t *testing.T, tp profile.Topics, users, perUser int, base time.Time) workload {
	rng := rand.New(rand.NewPCG(42, 7))
	var w workload
	for u := range users {
		user := fmt.Sprintf("tk-%s-%03d", tp.Group[len(tp.Group)-8:], u)
		w.users = append(w.users, user)
		at := base
		for i := range perUser {
			at = at.Add(time.Duration(rng.IntN(90*24/perUser)+1) * time.Hour)
			ev := &eventv1.Event{EventId: fmt.Sprintf("%s-%d", user, i), UserId: user, Timestamp: timestamppb.New(at), Type: eventv1.EventType_EVENT_TYPE_TRACK}
			props := map[string]any{"category": []string{"data", "design", "writing"}[rng.IntN(3)]}
			switch k := rng.IntN(10); {
			case i == 0:
				ev.Type = eventv1.EventType_EVENT_TYPE_IDENTIFY
				ev.Traits, _ = structpb.NewStruct(map[string]any{"age": 20 + rng.IntN(40), "city_tier": strconv.Itoa(1 + rng.IntN(4))})
			case k < 3:
				ev.Event = state.EventLessonCompleted
				props["minutes"] = 5 + rng.IntN(40)
			case k < 5:
				ev.Event = state.EventProductViewed
			case k < 6:
				ev.Event = state.EventProductAdded
			case k < 8:
				ev.Event = state.EventOrderCompleted
				ev.Order = &eventv1.Order{OrderId: fmt.Sprintf("o-%d", i), RevenueMinor: int64(1000 + rng.IntN(20000)), Currency: "CNY"}
			case k < 9:
				ev.Event = state.EventOrderRefunded
				props["revenue"] = float64(rng.IntN(50))
			default:
				ev.Event = state.EventItemRated
				props["rating"] = 1 + rng.IntN(5)
			}
			if ev.Type == eventv1.EventType_EVENT_TYPE_TRACK {
				ev.Properties, _ = structpb.NewStruct(props)
			}
			w.events = append(w.events, message(t, tp.Events, user, ev))
		}
		if u%4 == 0 {
			pred := &predictionv1.Prediction{UserId: user, ChurnRisk: rng.Float64(), PurchasePropensity: rng.Float64(), ScoredAt: timestamppb.New(at)}
			w.predictions = append(w.predictions, message(t, tp.Predictions, user, pred))
		}
	}
	return w
}

func waitDone(t testing.TB, s *store.Store, w workload, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every event and prediction applied", func() bool {
		e, p := progress(t, s)
		return e == int64(len(w.events)) && p == int64(len(w.predictions))
	})
}

func TestKillAndTakeOver(t *testing.T) {
	brokers, redisAddr := infra(t)
	ctx := context.Background()
	producer := bustest.Producer(t, brokers, bus.ProducerConfig{})
	shared := profile.Topics{
		Events: bustest.Topic(t, brokers, 6), Predictions: bustest.Topic(t, brokers, 6), SegmentDefinitions: bustest.Topic(t, brokers, 1),
	}
	topicsFor := func() profile.Topics {
		tp := shared
		tp.Profiles, tp.Segments, tp.Group = bustest.Topic(t, brokers, 6), bustest.Topic(t, brokers, 6), bustest.Group(t)
		return tp
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base.AddDate(0, 0, 100)
	takeover := run{Brokers: brokers, Redis: redisAddr, DB: takeoverDB, Topics: topicsFor(), Now: now}
	clean := run{Brokers: brokers, Redis: redisAddr, DB: cleanDB, Topics: topicsFor(), Now: now}

	w := newWorkload(t, takeover.Topics, 150, 10, base)
	seg := &profilev1.Segment{SegmentId: "buyers", Name: "Buyers", Rule: `p.aggregates.lifetime.revenue_minor > 20000`, Version: 1}
	b, _ := proto.Marshal(seg)
	if err := producer.Publish(ctx, bus.Message{Topic: shared.SegmentDefinitions, Key: []byte("buyers"), Value: b}); err != nil {
		t.Fatal(err)
	}
	// Both runs score with the same RFM boundaries: calibrated at the fixed time, they
	// are not recalibrated during the test.
	bounds := &profilev1.RfmBoundaries{Recency: []int64{5, 15, 30, 60}, Frequency: []int64{1, 2, 3, 4},
		Monetary: []int64{5000, 10000, 20000, 40000}, Population: 100, Version: 1, ComputedAt: timestamppb.New(now)}
	stores := map[int]*store.Store{}
	for _, db := range []int{takeoverDB, cleanDB} {
		s := storetest.Open(t, cache.Config{Addrs: []string{redisAddr}, DB: db})
		storetest.Flush(t, s)
		if err := s.SaveCalibration(ctx, bounds, &profilev1.RfmGrid{Boundaries: bounds}); err != nil {
			t.Fatal(err)
		}
		stores[db] = s
	}

	// The events arrive over a few seconds, so that the kill below lands while the
	// instances are busy, whatever their speed.
	published := make(chan struct{})
	go func() {
		defer close(published)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for chunk := range slices.Chunk(append(w.events, w.predictions...), 25) {
			if err := producer.Publish(ctx, chunk...); err != nil {
				t.Errorf("publish the workload: %v", err)
				return
			}
			<-tick.C
		}
	}()

	// Two instances share the group: A in this process, B in a child process.
	a := start(t, takeover.config(bustest.Logger(t)))
	var stderr bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run=^TestHelperInstance$", "-test.timeout=10m")
	child.Env, child.Stderr, child.Stdout = takeover.env(), &stderr, &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var killOnce sync.Once
	kill := func() {
		killOnce.Do(func() {
			_ = child.Process.Kill() // SIGKILL: no drain, no commit, no leaving the group
			_ = child.Wait()
		})
	}
	t.Cleanup(kill)
	total := int64(len(w.events))
	eventually(t, 2*time.Minute, "a quarter of the events applied", func() bool {
		e, _ := progress(t, stores[takeoverDB])
		return e >= total/4
	})
	kill()
	killedAt, _ := progress(t, stores[takeoverDB])
	t.Logf("killed the second instance after %d of %d events", killedAt, total)
	<-published
	waitDone(t, stores[takeoverDB], w, 3*time.Minute)
	if t.Failed() {
		t.Logf("child output:\n%s", stderr.String())
	}
	eventually(t, time.Minute, "takeover back-fill", func() bool {
		st, err := stores[takeoverDB].GetSegmentStatus(ctx, "buyers")
		return err == nil && st.ComputedVersion == 1
	})
	a.stop(t)

	// The clean pass: one instance, its own group, changelog and Redis database.
	cleanStart := time.Now()
	c := start(t, clean.config(bustest.Logger(t)))
	waitDone(t, stores[cleanDB], w, 3*time.Minute)
	t.Logf("clean pass: %d events and %d predictions in %v", len(w.events), len(w.predictions), time.Since(cleanStart).Round(time.Millisecond))
	eventually(t, time.Minute, "clean back-fill", func() bool {
		st, err := stores[cleanDB].GetSegmentStatus(ctx, "buyers")
		return err == nil && st.ComputedVersion == 1
	})
	c.stop(t)

	var members int
	for _, user := range w.users {
		got, err := stores[takeoverDB].Get(ctx, user)
		if err != nil {
			t.Fatalf("takeover profile of %s: %v", user, err)
		}
		want, err := stores[cleanDB].Get(ctx, user)
		if err != nil {
			t.Fatalf("clean profile of %s: %v", user, err)
		}
		if d := profileDiff(want, got); d != "" {
			t.Errorf("profile of %s after the takeover differs from the clean pass (-clean +takeover):\n%s", user, d)
		}
		gm, _ := stores[takeoverDB].Memberships(ctx, user)
		wm, _ := stores[cleanDB].Memberships(ctx, user)
		if !slices.Equal(gm, wm) {
			t.Errorf("memberships of %s: got %v, want %v", user, gm, wm)
		}
		members += len(wm)
	}
	if members == 0 || members == len(w.users) {
		t.Errorf("buyers has %d of %d users: the segment does not discriminate", members, len(w.users))
	}

	// The changelog's latest record per user is the profile in Redis: a restore from it
	// rebuilds the same state.
	latest := map[string]*profilev1.Profile{}
	var mu sync.Mutex
	err := changelog.Read(ctx, bus.Config{Brokers: brokers}, takeover.Topics.Profiles, func(_ context.Context, m bus.Message) error {
		p := &profilev1.Profile{}
		if err := proto.Unmarshal(m.Value, p); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if cur, ok := latest[p.GetUserId()]; !ok || p.GetVersion() >= cur.GetVersion() {
			latest[p.GetUserId()] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range w.users {
		want, _ := stores[cleanDB].Get(ctx, user)
		if got := latest[user]; profileDiff(want, got) != "" {
			t.Errorf("changelog's latest profile of %s (-redis +changelog):\n%s", user, profileDiff(want, got))
		}
	}

	// Segment events: at least once under the kill, the same set of transitions.
	gotEvents, wantEvents := uniq(segmentEvents(t, bus.Config{Brokers: brokers}, takeover.Topics.Segments)),
		uniq(segmentEvents(t, bus.Config{Brokers: brokers}, clean.Topics.Segments))
	if !slices.Equal(gotEvents, wantEvents) || len(wantEvents) == 0 {
		t.Errorf("segment events: got %d distinct, want the clean pass's %d", len(gotEvents), len(wantEvents))
	}
}

// profileDiff compares two profiles field by field, exactly.
func profileDiff(want, got *profilev1.Profile) string {
	return cmp.Diff(want, got, protocmp.Transform())
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
