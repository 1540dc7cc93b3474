package profile_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/cache"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
)

// footprintTemplates is how many distinct synthetic histories BenchmarkFootprint folds;
// the b.N users cycle through them under their own user ids.
const footprintTemplates = 1_000

// syntheticProfile folds a synthetic 90-day history of events events (identify, lessons,
// views, carts, orders, ratings over three categories and a few tags) into a derived
// profile, as the updater writes it.
func syntheticProfile(user string, seed, events int, now time.Time) *profilev1.Profile {
	d := profile.Settings{}.Deriver()
	var p *profilev1.Profile
	names := []string{state.EventLessonCompleted, state.EventProductViewed, state.EventLessonStarted,
		state.EventOrderCompleted, state.EventProductAdded, state.EventItemRated}
	for i := range events {
		at := now.Add(-time.Duration((seed*7919+i*104729)%(90*24)) * time.Hour)
		ev := &eventv1.Event{EventId: fmt.Sprintf("%s-%d", user, i), UserId: user, Timestamp: timestamppb.New(at),
			Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: names[(seed+i)%len(names)]}
		if i == 0 {
			ev.Type, ev.Event = eventv1.EventType_EVENT_TYPE_IDENTIFY, ""
			ev.Traits, _ = structpb.NewStruct(map[string]any{"age": 20 + seed%40, "city_tier": strconv.Itoa(1 + seed%4), "occupation": "engineer"})
		} else {
			ev.Properties, _ = structpb.NewStruct(map[string]any{"category": []any{"data", "design", "writing"}[(seed+i)%3],
				"tags": []any{"go", "sql"}, "minutes": 5 + (seed+i)%40, "rating": 1 + (seed+i)%5, "revenue": 9.9})
		}
		p, _ = d.Params.Apply(p, user, ev, &profilev1.Position{Partition: int32(seed % 6), Offset: int64(i)}, nil)
	}
	d.Derive(p, now, nil)
	p.UpdatedAt = timestamppb.New(now)
	return p
}

// BenchmarkFootprint measures the bytes per profile of b.N synthetic users with
// -footprint-events events each (10 by default): encoded, in Redis (used_memory growth
// divided by the users, and MEMORY USAGE of a sample of keys) and decoded in the Go heap
// (for min(b.N, 100,000) users, the heap growth divided by them). It needs the real Redis
// (STRATA_REDIS_ADDR) and flushes database benchDB. Run it with -benchtime=1000000x for
// 1M users.
func BenchmarkFootprint(b *testing.B) {
	_, addr := realInfra(b)
	ctx := context.Background()
	s := storetest.Open(b, cache.Config{Addrs: []string{addr}, DB: benchDB})
	storetest.Flush(b, s)
	b.Cleanup(func() {
		// A million keys take longer to drop than a command's timeout: let Redis drop
		// them in the background.
		if err := s.Client().FlushDBAsync(context.Background()).Err(); err != nil {
			b.Logf("flush database %d: %v", benchDB, err)
		}
	})
	now := time.Now()
	templates := make([]*profilev1.Profile, footprintTemplates)
	var encoded int
	for i := range templates {
		templates[i] = syntheticProfile(fmt.Sprintf("user-%07d", i), i, *footprintEvents, now)
		encoded += proto.Size(templates[i])
	}
	before := usedMemory(b, s)

	b.ResetTimer()
	batch := make([]store.Encoded, 0, 500)
	for i := range b.N {
		p := proto.CloneOf(templates[i%len(templates)])
		p.UserId = fmt.Sprintf("user-%07d", i)
		v, err := proto.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, store.Encoded{UserID: p.UserId, Version: p.GetVersion(), Bytes: v})
		if len(batch) == cap(batch) || i == b.N-1 {
			if _, err := s.PutMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.StopTimer()
	after := usedMemory(b, s)
	var sample []int64
	for i := 0; i < b.N; i += max(b.N/100, 1) {
		n, err := s.Client().MemoryUsage(ctx, cache.ProfileKey(fmt.Sprintf("user-%07d", i))).Result()
		if err != nil {
			b.Fatal(err)
		}
		sample = append(sample, n)
	}
	slices.Sort(sample)

	heapUsers := min(b.N, 100_000)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	held := make([]*profilev1.Profile, heapUsers)
	for i := range held {
		v, err := proto.Marshal(templates[i%len(templates)])
		if err != nil {
			b.Fatal(err)
		}
		held[i] = &profilev1.Profile{}
		if err := proto.Unmarshal(v, held[i]); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(held)

	b.ReportMetric(float64(encoded)/float64(len(templates)), "encoded-B/profile")
	b.ReportMetric(float64(after-before)/float64(b.N), "redis-B/profile")
	b.ReportMetric(float64(sample[len(sample)/2]), "redis-memory-usage-p50-B")
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(heapUsers), "heap-B/profile")
}

var footprintEvents = flag.Int("footprint-events", 10, "events per synthetic user in BenchmarkFootprint")

// usedMemory returns Redis' used_memory.
func usedMemory(b *testing.B, s *store.Store) int64 {
	info, err := s.Client().Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}
