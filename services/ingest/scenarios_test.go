package ingest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/ingesttest"
	"github.com/stratahq/strata/services/ingest/raw"
	"github.com/stratahq/strata/services/ingest/vocab"
)

// waitFor bounds how long a scenario waits for records; real Kafka on a busy 2-core
// machine needs a few seconds at worst.
const waitFor = 30 * time.Second

// runScenarios is the contract of the ingest service, run against the embedded stack
// (unit tests) and against real Kafka and Redis (integration tests).
func runScenarios(t *testing.T, stack ingesttest.Stack) {
	a := ingesttest.Start(t, stack, nil)
	b := ingesttest.Start(t, stack, nil)
	events := ingesttest.NewTail(t, stack.Brokers, topics.Events)
	t.Run("Segment SDK batches arrive once", func(t *testing.T) { testSDKInterop(t, a, events) })
	t.Run("dedup across instances", func(t *testing.T) { testDedupAcrossInstances(t, a, b, events) })
	t.Run("identity merge", func(t *testing.T) { testIdentityMerge(t, a, b, events) })
	t.Run("raw topic and dead letters", func(t *testing.T) { testRawTopic(t, stack, events) })
	t.Run("catalog upsert and delete", func(t *testing.T) { testCatalog(t, stack, a) })
}

func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// decoded is a published event with its record.
type decoded struct {
	msg bus.Message
	ev  *eventv1.Event
}

func decodeAll(t *testing.T, msgs []bus.Message) []decoded {
	t.Helper()
	out := make([]decoded, 0, len(msgs))
	for _, m := range msgs {
		ev := &eventv1.Event{}
		if err := proto.Unmarshal(m.Value, ev); err != nil {
			t.Fatalf("record %s/%d/%d: %v", m.Topic, m.Partition, m.Offset, err)
		}
		out = append(out, decoded{msg: m, ev: ev})
	}
	return out
}

// byID counts the published events whose event_id is in ids.
func byID(t *testing.T, msgs []bus.Message, ids map[string]bool) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, d := range decodeAll(t, msgs) {
		if ids[d.ev.GetEventId()] {
			n[d.ev.GetEventId()]++
		}
	}
	return n
}

type sdkCallback struct {
	mu      sync.Mutex
	ok, bad int
	errs    []error
}

func (c *sdkCallback) Success(analytics.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok++
}

func (c *sdkCallback) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad++
	c.errs = append(c.errs, err)
}

type discardLogger struct{}

func (discardLogger) Logf(string, ...any)   {}
func (discardLogger) Errorf(string, ...any) {}

// testSDKInterop sends track, identify, alias and page calls with the official Segment Go
// SDK and checks every one arrives exactly once on strata.events.v1, keyed by user.
func testSDKInterop(t *testing.T, inst *ingesttest.Instance, events *ingesttest.Tail) {
	cb := &sdkCallback{}
	client, err := analytics.NewWithConfig(ingesttest.WriteKey, analytics.Config{
		Endpoint:  inst.URL(),
		Interval:  50 * time.Millisecond,
		BatchSize: 100,
		Callback:  cb,
		Logger:    discardLogger{},
	})
	if err != nil {
		t.Fatalf("analytics.NewWithConfig: %v", err)
	}
	const users = 60
	ids := map[string]bool{}
	wantKey := map[string]string{}
	type person struct{ user, anon, page string }
	var people []person
	enqueue := func(id, key string, m analytics.Message) {
		ids[id], wantKey[id] = true, key
		if err := client.Enqueue(m); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	for i := range users {
		user, anon := unique("sdk-user"), unique("sdk-anon")
		base := strconv.Itoa(i) + "-" + user
		people = append(people, person{user: user, anon: anon, page: "page-" + base})
		enqueue("page-"+base, anon, analytics.Page{MessageId: "page-" + base, AnonymousId: anon, Name: "Course Detail"})
		enqueue("identify-"+base, user, analytics.Identify{MessageId: "identify-" + base, UserId: user, AnonymousId: anon,
			Traits: analytics.NewTraits().Set("city_tier", "1")})
		enqueue("track-"+base, user, analytics.Track{MessageId: "track-" + base, UserId: user, Event: "Lesson Completed",
			Properties: analytics.NewProperties().Set("minutes", 12).Set("course_id", "c1")})
		enqueue("alias-"+base, user, analytics.Alias{MessageId: "alias-" + base, PreviousId: unique("legacy"), UserId: user})
	}
	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cb.mu.Lock()
	ok, bad, errs := cb.ok, cb.bad, cb.errs
	cb.mu.Unlock()
	if bad != 0 || ok != len(ids) {
		t.Fatalf("SDK callbacks: got %d successes and %d failures (%v), want %d and 0", ok, bad, errs, len(ids))
	}
	events.WaitFor(t, waitFor, "every SDK event", func(msgs []bus.Message) bool {
		return len(byID(t, msgs, ids)) == len(ids)
	})
	// Give late duplicates a moment to show up before counting.
	time.Sleep(200 * time.Millisecond)
	all := decodeAll(t, events.Messages())
	for id, n := range byID(t, events.Messages(), ids) {
		if n != 1 {
			t.Errorf("event %s: published %d times, want once", id, n)
		}
	}
	byEventID := map[string]decoded{}
	merges := map[string]int{} // anonymous id -> merge events
	for _, d := range all {
		id := d.ev.GetEventId()
		if d.ev.GetEvent() == vocab.IdentityMerged {
			merges[d.ev.GetAnonymousId()]++
		}
		if !ids[id] {
			continue
		}
		byEventID[id] = d
		if got, want := d.ev.GetSourceId(), ingesttest.Source; got != want {
			t.Errorf("event %s source: got %q, want %q", id, got, want)
		}
		if strings.HasPrefix(id, "page-") {
			continue // checked below
		}
		if got, want := string(d.msg.Key), wantKey[id]; got != want {
			t.Errorf("event %s key: got %q, want %q", id, got, want)
		}
	}
	// The SDK sends batches in parallel, so a page may reach ingest before or after the
	// identify that follows it. Either way no anonymous history is left behind: the page
	// is keyed by the user, or by the anonymous id whose history was then merged, once.
	for _, p := range people {
		page := byEventID[p.page]
		switch key := string(page.msg.Key); key {
		case p.user:
		case p.anon:
			if merges[p.anon] != 1 {
				t.Errorf("user %s: page keyed by the anonymous id, got %d merge events, want 1", p.user, merges[p.anon])
			}
		default:
			t.Errorf("page %s key: got %q, want %q or %q", p.page, key, p.anon, p.user)
		}
	}
}

func postJSON(t *testing.T, url string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ingesttest.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: body %q is not JSON", url, raw)
	}
	return resp.StatusCode, out
}

func dial(t testing.TB, addr string) ingestv1.IngestServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return ingestv1.NewIngestServiceClient(conn)
}

// testDedupAcrossInstances sends the same batch to two instances sharing Redis: both
// acknowledge it, Kafka holds it once; gRPC reports the duplicate.
func testDedupAcrossInstances(t *testing.T, a, b *ingesttest.Instance, events *ingesttest.Tail) {
	user := unique("dedup")
	ids := map[string]bool{"d1-" + user: true, "d2-" + user: true, "d3-" + user: true}
	batch := []byte(fmt.Sprintf(`{"batch":[
		{"type":"track","event":"Lesson Started","userId":%[1]q,"messageId":"d1-%[1]s"},
		{"type":"track","event":"Lesson Completed","userId":%[1]q,"messageId":"d2-%[1]s"}]}`, user))
	for _, inst := range []*ingesttest.Instance{a, b, a} {
		if code, body := postJSON(t, inst.URL()+"/v1/batch", batch); code != http.StatusOK {
			t.Fatalf("POST /v1/batch: got %d %v, want 200", code, body)
		}
	}
	ev := &eventv1.Event{EventId: "d3-" + user, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Item Rated",
		UserId: user, Timestamp: timestamppb.Now(), SourceId: ingesttest.Source}
	for i, inst := range []*ingesttest.Instance{b, a} {
		resp, err := dial(t, inst.GRPC).Ingest(context.Background(), &ingestv1.IngestRequest{Event: ev})
		if err != nil {
			t.Fatalf("Ingest: %v", err)
		}
		if got, want := resp.GetDuplicate(), i == 1; got != want {
			t.Errorf("Ingest #%d duplicate: got %v, want %v", i+1, got, want)
		}
	}
	// The HTTP copy of d1 and a gRPC copy of it share (source, messageId): a duplicate.
	resp, err := dial(t, b.GRPC).IngestBatch(context.Background(), &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{
		{EventId: "d1-" + user, Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: "Lesson Started", UserId: user, Timestamp: timestamppb.Now(), SourceId: ingesttest.Source},
	}})
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	if resp.GetAccepted() != 1 || resp.GetDuplicates() != 1 {
		t.Errorf("IngestBatch: got accepted %d duplicates %d, want 1 and 1", resp.GetAccepted(), resp.GetDuplicates())
	}
	events.WaitFor(t, waitFor, "the deduplicated events", func(msgs []bus.Message) bool {
		return len(byID(t, msgs, ids)) == len(ids)
	})
	time.Sleep(200 * time.Millisecond)
	for id, n := range byID(t, events.Messages(), ids) {
		if n != 1 {
			t.Errorf("event %s: published %d times, want once", id, n)
		}
	}
}

// testIdentityMerge browses anonymously through one instance, identifies through the
// other, and browses anonymously again: the anonymous history joins the user with one
// merge event and later anonymous events are keyed by the user.
func testIdentityMerge(t *testing.T, a, b *ingesttest.Instance, events *ingesttest.Tail) {
	user, anon := unique("merge-user"), unique("merge-anon")
	steps := []struct {
		inst *ingesttest.Instance
		path string
		body string
	}{
		{a, "/v1/page", fmt.Sprintf(`{"anonymousId":%q,"name":"Pricing","messageId":"m1-%s"}`, anon, user)},
		{b, "/v1/track", fmt.Sprintf(`{"anonymousId":%q,"event":"product_viewed","messageId":"m2-%s"}`, anon, user)},
		{b, "/v1/identify", fmt.Sprintf(`{"anonymousId":%q,"userId":%q,"messageId":"m3-%s"}`, anon, user, user)},
		{a, "/v1/track", fmt.Sprintf(`{"anonymousId":%q,"event":"Order Completed","messageId":"m4-%s"}`, anon, user)},
		{a, "/v1/identify", fmt.Sprintf(`{"anonymousId":%q,"userId":%q,"messageId":"m5-%s"}`, anon, user, user)},
	}
	for _, s := range steps {
		if code, body := postJSON(t, s.inst.URL()+s.path, []byte(s.body)); code != http.StatusOK {
			t.Fatalf("POST %s: got %d %v", s.path, code, body)
		}
	}
	want := []struct{ id, key, user, event string }{
		{"m1-" + user, anon, "", ""},
		{"m2-" + user, anon, "", vocab.ProductViewed},
		{"m3-" + user, user, user, ""},
		{"m4-" + user, user, user, vocab.OrderCompleted},
		{"m5-" + user, user, user, ""},
	}
	ids := map[string]bool{}
	for _, w := range want {
		ids[w.id] = true
	}
	events.WaitFor(t, waitFor, "the identity scenario", func(msgs []bus.Message) bool {
		return len(byID(t, msgs, ids)) == len(ids)
	})
	time.Sleep(200 * time.Millisecond)
	msgs := events.Messages()
	got := map[string]decoded{}
	var merges []decoded
	for _, d := range decodeAll(t, msgs) {
		if ids[d.ev.GetEventId()] {
			got[d.ev.GetEventId()] = d
		}
		if d.ev.GetEvent() == vocab.IdentityMerged && d.ev.GetAnonymousId() == anon {
			merges = append(merges, d)
		}
	}
	for _, w := range want {
		d := got[w.id]
		if k := string(d.msg.Key); k != w.key {
			t.Errorf("%s key: got %q, want %q", w.id, k, w.key)
		}
		if u := d.ev.GetUserId(); u != w.user {
			t.Errorf("%s user_id: got %q, want %q", w.id, u, w.user)
		}
		if w.event != "" && d.ev.GetEvent() != w.event {
			t.Errorf("%s event: got %q, want %q", w.id, d.ev.GetEvent(), w.event)
		}
	}
	if len(merges) != 1 {
		t.Fatalf("merge events for %s: got %d, want 1", anon, len(merges))
	}
	m := merges[0]
	if string(m.msg.Key) != user || m.ev.GetUserId() != user || m.ev.GetPreviousId() != anon {
		t.Errorf("merge event: got key %q user %q previous %q, want %q %q %q", m.msg.Key, m.ev.GetUserId(), m.ev.GetPreviousId(), user, user, anon)
	}
	if got, want := m.ev.GetProperties().GetFields()["trigger_event_id"].GetStringValue(), "m3-"+user; got != want {
		t.Errorf("merge trigger_event_id: got %q, want %q", got, want)
	}
	// The merge follows the identify on the user's partition.
	if m.msg.Partition != got["m3-"+user].msg.Partition || m.msg.Offset <= got["m3-"+user].msg.Offset {
		t.Errorf("merge at %d/%d, identify at %d/%d: want the merge right after the identify",
			m.msg.Partition, m.msg.Offset, got["m3-"+user].msg.Partition, got["m3-"+user].msg.Offset)
	}
}

// testRawTopic publishes Segment JSON to strata.events.raw.v1 as an upstream producer
// would: valid records become events, bad ones go to the dead-letter topic with their
// reason and origin, and the partition keeps moving.
func testRawTopic(t *testing.T, stack ingesttest.Stack, events *ingesttest.Tail) {
	dlq := ingesttest.NewTail(t, stack.Brokers, topics.EventsDLQ)
	prod := bustest.Producer(t, stack.Brokers, bus.ProducerConfig{})
	user := unique("raw")
	key := []byte(user) // one key: every record on one partition, in order
	records := []bus.Message{
		{Value: []byte(`{"type":"track","event":"Lesson Started","userId":"` + user + `","messageId":"r1-` + user + `"}`)},
		{Value: []byte(`not json at all ` + user)},
		{Value: []byte(`{"batch":[{"type":"track","event":"X","userId":"` + user + `","messageId":"r2-` + user + `"},{"type":"purchase","userId":"` + user + `"}]}`)},
		{Value: []byte(`{"batch":[{"type":"identify","userId":"` + user + `","traits":{"plan":"pro"},"messageId":"r3-` + user + `"},{"type":"track","event":"Item Rated","anonymousId":"a-` + user + `","messageId":"r4-` + user + `"}]}`),
			Headers: []bus.Header{{Key: raw.HeaderSource, Value: []byte("warehouse")}}},
		{Value: []byte(`{"type":"track","event":"Lesson Started","userId":"` + user + `","messageId":"r1-` + user + `"}`)},
	}
	for i := range records {
		records[i].Topic, records[i].Key = topics.EventsRaw, key
	}
	if err := prod.Publish(context.Background(), records...); err != nil {
		t.Fatalf("publish raw: %v", err)
	}
	ids := map[string]bool{"r1-" + user: true, "r3-" + user: true, "r4-" + user: true}
	events.WaitFor(t, waitFor, "the valid raw records", func(msgs []bus.Message) bool {
		return len(byID(t, msgs, ids)) == len(ids)
	})
	dead := dlq.WaitFor(t, waitFor, "two dead letters", func(msgs []bus.Message) bool {
		n := 0
		for _, m := range msgs {
			if bytes.Equal(m.Key, key) {
				n++
			}
		}
		return n == 2
	})
	time.Sleep(200 * time.Millisecond)
	counts := byID(t, events.Messages(), map[string]bool{"r1-" + user: true, "r2-" + user: true, "r3-" + user: true, "r4-" + user: true})
	if counts["r1-"+user] != 1 || counts["r2-"+user] != 0 {
		t.Errorf("published: got %v, want r1, r3 and r4 once and r2 not at all (its record was invalid)", counts)
	}
	var reasons []string
	for _, m := range dead {
		if !bytes.Equal(m.Key, key) {
			continue
		}
		reason, _ := m.Header(bus.HeaderError)
		reasons = append(reasons, reason)
		if topic, _ := m.Header(bus.HeaderSourceTopic); topic != topics.EventsRaw {
			t.Errorf("dead letter source topic: got %q, want %q", topic, topics.EventsRaw)
		}
		for _, h := range []string{bus.HeaderSourcePartition, bus.HeaderSourceOffset} {
			if v, ok := m.Header(h); !ok || v == "" {
				t.Errorf("dead letter header %s: missing", h)
			}
		}
	}
	if len(reasons) != 2 || !bytes.Contains([]byte(reasons[0]), []byte("not a JSON object")) || !bytes.Contains([]byte(reasons[1]), []byte("batch[1].type")) {
		t.Errorf("dead letter reasons: got %q, want the bad JSON first, then batch[1].type", reasons)
	}
	for _, d := range decodeAll(t, events.Messages()) {
		if d.ev.GetEventId() == "r4-"+user && d.ev.GetSourceId() != "warehouse" {
			t.Errorf("r4 source: got %q, want warehouse (the strata-source header)", d.ev.GetSourceId())
		}
	}
}

// testCatalog upserts and deletes items over gRPC and over the raw topic; the compacted
// catalog topic gets the items, then their tombstones.
func testCatalog(t *testing.T, stack ingesttest.Stack, inst *ingesttest.Instance) {
	cat := ingesttest.NewTail(t, stack.Brokers, topics.Catalog)
	grpcItem, rawItem := unique("course"), unique("ebook")
	client := dial(t, inst.GRPC)
	if _, err := client.UpsertItems(context.Background(), &ingestv1.UpsertItemsRequest{Items: []*eventv1.CatalogItem{
		{ItemId: grpcItem, Type: eventv1.ItemType_ITEM_TYPE_COURSE, Title: "Go 进阶", PriceMinor: 19900, Currency: "CNY"},
	}}); err != nil {
		t.Fatalf("UpsertItems: %v", err)
	}
	prod := bustest.Producer(t, stack.Brokers, bus.ProducerConfig{})
	if err := prod.Publish(context.Background(),
		bus.Message{Topic: topics.EventsRaw, Key: []byte(rawItem), Value: []byte(`{"type":"catalog.upsert","items":[{"itemId":"` + rawItem + `","type":"ITEM_TYPE_EBOOK","title":"Rust","priceMinor":"4900","currency":"USD"}]}`)},
		bus.Message{Topic: topics.EventsRaw, Key: []byte(rawItem), Value: []byte(`{"type":"catalog.delete","itemIds":["` + rawItem + `"]}`)},
	); err != nil {
		t.Fatalf("publish raw catalog: %v", err)
	}
	if _, err := client.DeleteItems(context.Background(), &ingestv1.DeleteItemsRequest{ItemIds: []string{grpcItem}}); err != nil {
		t.Fatalf("DeleteItems: %v", err)
	}
	for _, id := range []string{grpcItem, rawItem} {
		msgs := cat.WaitFor(t, waitFor, "the item and its tombstone", func(msgs []bus.Message) bool {
			n := 0
			for _, m := range msgs {
				if string(m.Key) == id {
					n++
				}
			}
			return n == 2
		})
		var mine []bus.Message
		for _, m := range msgs {
			if string(m.Key) == id {
				mine = append(mine, m)
			}
		}
		item := &eventv1.CatalogItem{}
		if err := proto.Unmarshal(mine[0].Value, item); err != nil || item.GetItemId() != id || item.GetUpdatedAt() == nil {
			t.Errorf("%s upsert record: got %v (%v), want the item with updated_at", id, item, err)
		}
		if mine[1].Value != nil {
			t.Errorf("%s delete record: got value %q, want a tombstone (null)", id, mine[1].Value)
		}
	}
}
