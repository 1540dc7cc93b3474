package profile_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/services/profile"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store/storetest"
)

// benchDB is the Redis database the benchmarks of this package own on the real Redis
// (they flush it).
const benchDB = 13

// benchPartitions is the partition count of the benchmarks' topics.
const benchPartitions = 6

// realInfra returns the real brokers and Redis address, or skips the benchmark.
func realInfra(b *testing.B) ([]string, string) {
	brokers, addr := bus.ParseBrokers(os.Getenv(bus.EnvBrokers)), os.Getenv("STRATA_REDIS_ADDR")
	if len(brokers) == 0 || addr == "" {
		b.Skip("set STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR (eval \"$(scripts/infra env)\")")
	}
	return brokers, addr
}

func benchTopics(b *testing.B, brokers []string) profile.Topics {
	return profile.Topics{
		Events: bustest.Topic(b, brokers, benchPartitions), Predictions: bustest.Topic(b, brokers, benchPartitions),
		Profiles: bustest.Topic(b, brokers, benchPartitions), Segments: bustest.Topic(b, brokers, benchPartitions),
		SegmentDefinitions: bustest.Topic(b, brokers, 1), Group: bustest.Group(b),
	}
}

// committed returns the offsets group committed on topic, summed over its partitions:
// the events the instance handled, wrote to Redis and committed.
func committed(b *testing.B, client *kafka.Client, group, topic string) int64 {
	parts := make([]int, benchPartitions)
	for i := range parts {
		parts[i] = i
	}
	res, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0 // the group is not there yet
	}
	var n int64
	for _, p := range res.Topics[topic] {
		if p.Error == nil && p.CommittedOffset > 0 {
			n += p.CommittedOffset
		}
	}
	return n
}

// BenchmarkInstance measures one profile instance end to end on real Kafka and Redis:
// b.N events (10 per user) are published first, then the instance starts (restore, group
// join) and the clock runs until the group committed every event, which it does only
// after the profiles are in Redis; Redis is checked once at the end. events/s counts the
// start-up; events/s-after-first starts at the first commit. Run it with a fixed count,
// e.g. -benchtime=200000x; it skips without STRATA_KAFKA_BROKERS and STRATA_REDIS_ADDR.
func BenchmarkInstance(b *testing.B) {
	brokers, addr := realInfra(b)
	ctx := context.Background()
	tp := benchTopics(b, brokers)
	users := max(b.N/10, 1)
	now := time.Now()
	msgs := make([]bus.Message, b.N)
	for i := range b.N {
		user := fmt.Sprintf("bench-%07d", i%users)
		msgs[i] = message(b, tp.Events, user, track(user, state.EventLessonCompleted, now.Add(time.Duration(i)*time.Millisecond), map[string]any{"minutes": 10}))
	}
	p := bustest.Producer(b, brokers, bus.ProducerConfig{})
	for chunk := range slices.Chunk(msgs, 10_000) {
		if err := p.Publish(ctx, chunk...); err != nil {
			b.Fatal(err)
		}
	}
	s := storetest.Open(b, cache.Config{Addrs: []string{addr}, DB: benchDB})
	storetest.Flush(b, s)
	client := bustest.Client(b, brokers)

	cpu0 := cpuTime(b)
	b.ResetTimer()
	start(b, profile.Config{
		Kafka: bus.Config{Brokers: brokers}, Redis: cache.Config{Addrs: []string{addr}, DB: benchDB}, Topics: tp,
		TuneConsumer: bustest.ConsumerTuning,
	})
	var first time.Time
	eventually(b, 30*time.Minute, "every event committed", func() bool {
		n := committed(b, client, tp.Group, tp.Events)
		if n > 0 && first.IsZero() {
			first = time.Now()
		}
		return n == int64(b.N)
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/time.Since(first).Seconds(), "events/s-after-first")
	// CPU time does not depend on what else the machine runs, unlike the rates above.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
	if e, _ := progress(b, s); e != int64(b.N) {
		b.Fatalf("events applied in Redis: got %d, want %d", e, b.N)
	}
}

// cpuTime returns the CPU time (user and system) this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Freshness load: -freshness-rate events/s (default 20,000, the load),
// published in chunks every freshnessTick, one probe (an event of a user of its own) per
// chunk. Set it after -args: go test -bench Freshness . -args -freshness-rate=5000.
var freshnessRate = flag.Int("freshness-rate", 20_000, "events/s BenchmarkFreshness offers")

const freshnessTick = 10 * time.Millisecond

// BenchmarkFreshness measures, on real Kafka and Redis, the time from the publisher's
// acknowledgement (Publish returned: acks=all) to the profile being visible in Redis,
// while one instance consumes b.N events published at -freshness-rate events/s over 10,000
// users. Each chunk of the load carries one probe event for a user of its own; a poller
// looks for the probes' profiles every millisecond. It reports the 50th, 99th and 100th
// percentiles of the probes' freshness and the load actually reached. Run it with a fixed
// count, e.g. -benchtime=200000x (10 s at 20,000/s).
func BenchmarkFreshness(b *testing.B) {
	brokers, addr := realInfra(b)
	ctx := context.Background()
	tp := benchTopics(b, brokers)
	s := storetest.Open(b, cache.Config{Addrs: []string{addr}, DB: benchDB})
	storetest.Flush(b, s)
	start(b, profile.Config{
		Kafka: bus.Config{Brokers: brokers}, Redis: cache.Config{Addrs: []string{addr}, DB: benchDB}, Topics: tp,
		TuneConsumer: bustest.ConsumerTuning,
	})
	p := bustest.Producer(b, brokers, bus.ProducerConfig{})
	// Wait until the instance consumes (restore, group join) before loading it.
	if err := p.Publish(ctx, message(b, tp.Events, "warm-up", track("warm-up", state.EventLessonStarted, time.Now(), nil))); err != nil {
		b.Fatal(err)
	}
	eventually(b, 2*time.Minute, "the instance consuming", func() bool {
		_, err := s.Get(ctx, "warm-up")
		return err == nil
	})

	perTick := max(*freshnessRate*int(freshnessTick)/int(time.Second), 1)
	ticks := max(b.N/perTick, 1)
	var (
		mu      sync.Mutex
		acked   = map[string]time.Time{} // probe user → acknowledgement
		visible []time.Duration
		wg      sync.WaitGroup
	)
	probes := make(chan string, ticks)
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		pollProbes(ctx, s.Client(), ticks, probes, func(user string, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			visible = append(visible, at.Sub(acked[user]))
		})
	}()

	base := time.Now()
	b.ResetTimer()
	tick := time.NewTicker(freshnessTick)
	for i := range ticks {
		<-tick.C
		chunk := make([]bus.Message, 0, perTick)
		for j := range perTick - 1 {
			user := fmt.Sprintf("load-%05d", (i*perTick+j)%10_000)
			chunk = append(chunk, message(b, tp.Events, user, track(user, state.EventLessonCompleted, base.Add(time.Duration(i*perTick+j)*time.Microsecond), map[string]any{"minutes": 3})))
		}
		probe := fmt.Sprintf("probe-%06d", i)
		chunk = append(chunk, message(b, tp.Events, probe, track(probe, state.EventLessonStarted, base, nil)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Publish(ctx, chunk...); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			acked[probe] = time.Now()
			mu.Unlock()
			probes <- probe
		}()
	}
	tick.Stop()
	wg.Wait()
	published := time.Since(base)
	select {
	case <-pollDone:
	case <-time.After(5 * time.Minute):
		b.Fatal("probes not visible within 5 minutes")
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(visible)
	pct := func(q float64) float64 {
		return float64(visible[min(int(q*float64(len(visible))), len(visible)-1)]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(ticks*perTick)/published.Seconds(), "events/s-offered")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(visible)), "probes")
}

// pollProbes checks every millisecond which of the probes received so far have a profile
// in Redis, calling seen with the time it first saw each, until n probes were seen.
func pollProbes(ctx context.Context, rdb redis.UniversalClient, n int, probes <-chan string, seen func(user string, at time.Time)) {
	var pending []string
	for found := 0; found < n; {
		for more := true; more; {
			select {
			case u := <-probes:
				pending = append(pending, u)
			default:
				more = false
			}
		}
		if len(pending) > 0 {
			pipe := rdb.Pipeline()
			cmds := make([]*redis.IntCmd, len(pending))
			for i, u := range pending {
				cmds[i] = pipe.Exists(ctx, cache.ProfileKey(u))
			}
			_, _ = pipe.Exec(ctx)
			at := time.Now()
			rest := pending[:0]
			for i, u := range pending {
				if cmds[i].Val() == 1 {
					seen(u, at)
					found++
				} else {
					rest = append(rest, u)
				}
			}
			pending = rest
		}
		time.Sleep(time.Millisecond)
	}
}
