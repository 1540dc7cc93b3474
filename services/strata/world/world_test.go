package world

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"buf.build/go/protovalidate"

	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/strata/sink"
)

var testEnd = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func generate(t *testing.T, cfg Config) (*World, []sink.Message) {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []sink.Message
	if err := w.Generate(context.Background(), func(m sink.Message) error {
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return w, msgs
}

// jsonl renders a world as the --out files would hold it.
func jsonl(t *testing.T, cfg Config) []byte {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var events, items bytes.Buffer
	f := sink.NewFile(&events, &items)
	ctx := context.Background()
	if err := f.SendItems(ctx, w.Items()); err != nil {
		t.Fatal(err)
	}
	if err := w.Generate(ctx, func(m sink.Message) error { return f.Send(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return append(items.Bytes(), events.Bytes()...)
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	base := Config{Seed: 7, Users: 300, Items: 60, Days: 90, End: testEnd, Workers: 4}
	want := jsonl(t, base)
	if len(want) == 0 {
		t.Fatal("world is empty")
	}
	tests := []struct {
		name string
		cfg  func(Config) Config
		same bool
	}{
		{"same seed", func(c Config) Config { return c }, true},
		{"one worker", func(c Config) Config { c.Workers = 1; return c }, true},
		{"other seed", func(c Config) Config { c.Seed = 8; return c }, false},
		{"other prefix", func(c Config) Config { c.Prefix = "x-"; return c }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := jsonl(t, tt.cfg(base))
			if same := bytes.Equal(got, want); same != tt.same {
				t.Errorf("identical output: got %v, want %v (%d vs %d bytes)", same, tt.same, len(got), len(want))
			}
		})
	}
}

// TestLatentStructure checks the signal the world is built to carry: members of a taste
// cluster buy from its primary category far above that category's share of the catalog,
// and from categories outside the cluster below it.
//
// The bound comes from the design (see affinityFloor): a member's attention on the
// primary category p before noise is (w_p+floor)/(1+C·floor) for the persona's weight
// w_p, so views alone lift p by that over p's catalog share; purchases, which also rise
// with fit, only add to it. The test asks for half the lift of views alone.
func TestLatentStructure(t *testing.T) {
	t.Parallel()
	w, msgs := generate(t, Config{Seed: 42, Users: 2000, Items: 300, Days: 180, End: testEnd})

	catShare := map[string]float64{}
	for _, it := range w.Items() {
		catShare[it.Category] += 1 / float64(len(w.Items()))
	}
	persona := map[string]int{}
	for i := range w.cfg.Users {
		persona[w.UserID(i)] = w.User(i).Persona
	}
	lines := make([]map[string]float64, len(personas)) // persona → category → order lines
	totals := make([]float64, len(personas))
	for i := range lines {
		lines[i] = map[string]float64{}
	}
	for _, m := range msgs {
		if m.Event != "Order Completed" {
			continue
		}
		p := persona[m.UserID]
		for _, prod := range m.Properties["products"].([]map[string]any) {
			lines[p][prod["category"].(string)]++
			totals[p]++
		}
	}
	for p, pd := range personas {
		if totals[p] < 100 {
			t.Fatalf("persona %s: only %v order lines; the world is too small to test", pd.Name, totals[p])
		}
		primary, wp := "", 0.0
		for c, wt := range pd.Categories {
			if wt > wp {
				primary, wp = c, wt
			}
		}
		attention := (wp + affinityFloor) / (1 + numCategories*affinityFloor)
		bound := attention / (1 / float64(numCategories)) / 2
		lift := lines[p][primary] / totals[p] / catShare[primary]
		if lift < bound {
			t.Errorf("persona %s: orders in %s are %.2f× its catalog share, want at least %.2f×", pd.Name, primary, lift, bound)
		}
		outside, share := 0.0, 0.0
		for _, c := range categories {
			if pd.Categories[c.slug] == 0 {
				outside += lines[p][c.slug]
				share += catShare[c.slug]
			}
		}
		outLift := outside / totals[p] / share
		if outLift >= 1 {
			t.Errorf("persona %s: orders outside its categories are %.2f× their catalog share, want below 1×", pd.Name, outLift)
		}
		t.Logf("persona %-16s %4.0f order lines: %-9s %4.1f× its catalog share (bound %.1f×), categories outside the persona %.2f×",
			pd.Name, totals[p], primary, lift, bound, outLift)
	}
}

var errEnough = errors.New("enough")

// TestStreaming checks that Generate streams: the first messages of a benchmark-scale
// world (1M users, 50k items) come out after a bounded amount of work, without the
// world's users or events being built first. Holding the users alone would allocate
// hundreds of megabytes, their events tens of gigabytes.
func TestStreaming(t *testing.T) {
	w, err := New(Config{Seed: 1, Users: 1_000_000, Items: 50_000, Days: 180, End: testEnd, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	err = w.Generate(context.Background(), func(sink.Message) error {
		if n++; n == 5000 {
			return errEnough
		}
		return nil
	})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errEnough) {
		t.Fatalf("Generate: got %v, want the emit error", err)
	}
	if got, limit := w.Simulated(), int64(1000); got > limit {
		t.Errorf("users emitted before stopping: got %d, want at most %d", got, limit)
	}
	const limit = 64 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("allocated %d MB for the first 5,000 events, want at most %d MB", got>>20, limit>>20)
	}
}

// TestVocabulary checks that a world speaks the whole event vocabulary of DESIGN.md,
// that its messages pass ingest's own decoder and validation (the first few of every
// kind and every 100th), and that ids, times and per-user order hold.
func TestVocabulary(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 3, Users: 2000, Items: 120, Days: 180, End: testEnd}
	w, msgs := generate(t, cfg)
	pipe, err := pipeline.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	surveys := map[string]int{}
	ids := map[string]bool{}
	last := map[string]time.Time{}
	start := cfg.End.AddDate(0, 0, -cfg.Days)
	for _, m := range msgs {
		name := m.Event
		if name == "" {
			name = m.Type
		}
		seen[name]++
		if name == "Survey Answered" {
			surveys[m.Properties["survey"].(string)]++
		}
		if ids[m.MessageID] {
			t.Fatalf("duplicate messageId %s", m.MessageID)
		}
		ids[m.MessageID] = true
		if m.Timestamp.Before(start) || !m.Timestamp.Before(cfg.End) {
			t.Fatalf("message %s at %v is outside the window [%v, %v)", m.MessageID, m.Timestamp, start, cfg.End)
		}
		if m.Timestamp.Before(last[m.UserID]) {
			t.Fatalf("message %s of %s goes back in time", m.MessageID, m.UserID)
		}
		last[m.UserID] = m.Timestamp
		if seen[name] > 3 && len(ids)%100 != 0 {
			continue
		}
		ev, err := m.Proto(cfg.End)
		if err != nil {
			t.Fatalf("decode %s: %v", m.MessageID, err)
		}
		if err := pipe.Validate(ev); err != nil {
			t.Fatalf("validate %s: %v", m.MessageID, err)
		}
	}
	want := []string{
		"identify", "Product Viewed", "Lesson Started", "Lesson Completed", "Item Favorited",
		"Product Added", "Order Completed", "Order Refunded", "Item Rated", "Review Submitted",
		"Subscription Started", "Subscription Renewed", "Subscription Cancelled", "Survey Answered",
		"Support Ticket Opened", "Support Ticket Resolved",
	}
	for _, name := range want {
		if seen[name] == 0 {
			t.Errorf("no %q events in %d messages", name, len(msgs))
		}
	}
	for _, s := range []string{"nps", "csat", "ces"} {
		if surveys[s] == 0 {
			t.Errorf("no %s survey answers", s)
		}
	}
	if extra := slices.DeleteFunc(slices.Sorted(maps.Keys(seen)), func(n string) bool { return slices.Contains(want, n) }); len(extra) > 0 {
		t.Errorf("unexpected event names %v", extra)
	}

	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	types, langs := map[string]bool{}, map[string]bool{}
	for _, it := range w.Items() {
		if err := v.Validate(it.Proto()); err != nil {
			t.Errorf("item %s: %v", it.ItemID, err)
		}
		if it.PriceMinor <= 0 || it.Currency != "CNY" {
			t.Errorf("item %s: price %d %s, want a positive CNY price", it.ItemID, it.PriceMinor, it.Currency)
		}
		types[it.Type], langs[it.Language] = true, true
	}
	if len(types) != 6 || len(langs) != 2 {
		t.Errorf("catalog: %d item types and languages %v, want 6 types in zh-CN and en", len(types), slices.Sorted(maps.Keys(langs)))
	}
}

// TestBehaviourOverTime checks the dynamics the simulation is built with: new users are
// busiest in their first weeks, weekends are busier than weekdays, and some users come
// back after a long absence.
func TestBehaviourOverTime(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 11, Users: 2000, Items: 120, Days: 180, End: testEnd}
	w, msgs := generate(t, cfg)
	signup := map[string]time.Time{}
	existing := map[string]bool{}
	for i := range cfg.Users {
		u := w.User(i)
		signup[u.ID], existing[u.ID] = u.SignupAt, u.Existing
	}
	var early, later float64 // events a user-day in days 0–13 and 60–73 after signup
	var weekend, weekday float64
	sessionsByDay := map[time.Time]map[string]bool{}
	lastSeen := map[string]time.Time{}
	returned := 0
	for _, m := range msgs {
		if !existing[m.UserID] && signup[m.UserID].Add(74*day).Before(cfg.End) {
			switch age := m.Timestamp.Sub(signup[m.UserID]); {
			case age < 14*day:
				early++
			case age >= 60*day && age < 74*day:
				later++
			}
		}
		if sid, ok := m.Context["session_id"].(string); ok {
			d := localDay(m.Timestamp)
			if sessionsByDay[d] == nil {
				sessionsByDay[d] = map[string]bool{}
			}
			sessionsByDay[d][sid] = true
		}
		if prev, ok := lastSeen[m.UserID]; ok && m.Timestamp.Sub(prev) > 45*day {
			returned++
		}
		lastSeen[m.UserID] = m.Timestamp
	}
	for d, s := range sessionsByDay {
		switch d.Add(localOffset).Weekday() {
		case time.Saturday, time.Sunday:
			weekend += float64(len(s)) / 2
		default:
			weekday += float64(len(s)) / 5
		}
	}
	if early <= 1.5*later {
		t.Errorf("events in users' first two weeks %v, in weeks 9–10 %v: want onboarding well above the settled habit", early, later)
	}
	if weekend <= weekday {
		t.Errorf("sessions per weekend day %.0f, per weekday %.0f: want weekends busier", weekend, weekday)
	}
	if returned == 0 {
		t.Error("no user came back after more than 45 days away: want some reactivation")
	}
	t.Logf("onboarding %v vs %v; weekend %.0f vs weekday %.0f; %d returns after 45+ days", early, later, weekend, weekday, returned)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"ok", Config{Users: 1, Items: 1, Days: 1, End: testEnd}, nil},
		{"no users", Config{Items: 1, Days: 1, End: testEnd}, ErrInvalidSize},
		{"no items", Config{Users: 1, Days: 1, End: testEnd}, ErrInvalidSize},
		{"no end", Config{Users: 1, Items: 1, Days: 1}, ErrMissingEnd},
	}
	for _, tt := range tests {
		if got := tt.cfg.Validate(); !errors.Is(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A one-item world still works: every category but one is empty.
func TestTinyWorld(t *testing.T) {
	t.Parallel()
	_, msgs := generate(t, Config{Seed: 5, Users: 20, Items: 1, Days: 30, End: testEnd})
	if len(msgs) == 0 {
		t.Fatal("no messages")
	}
}

// BenchmarkGenerate measures simulation alone, per user of the default world's shape.
func BenchmarkGenerate(b *testing.B) {
	w, err := New(Config{Seed: 42, Users: b.N, Items: 300, Days: 180, End: testEnd})
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	b.ResetTimer()
	if err := w.Generate(context.Background(), func(sink.Message) error { events++; return nil }); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGenerateJSONL adds what `strata seed --out` does: encoding to JSON lines.
func BenchmarkGenerateJSONL(b *testing.B) {
	w, err := New(Config{Seed: 42, Users: b.N, Items: 300, Days: 180, End: testEnd})
	if err != nil {
		b.Fatal(err)
	}
	f := sink.NewFile(io.Discard, nil)
	ctx := context.Background()
	events := 0
	b.ResetTimer()
	if err := w.Generate(ctx, func(m sink.Message) error { events++; return f.Send(ctx, m) }); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// TestContact checks that identify calls carry consent per channel at about the
// documented rates, and a valid time zone.
func TestContact(t *testing.T) {
	t.Parallel()
	const users = 4000
	w, err := New(Config{Seed: 7, Users: users, Items: 50, Days: 10, End: testEnd})
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]int{}
	for i := range users {
		u := w.User(i)
		if _, err := time.LoadLocation(u.TimeZone); err != nil || u.TimeZone == "" {
			t.Fatalf("user %d: time zone %q: %v", i, u.TimeZone, err)
		}
		if u.Locale != "en" && u.TimeZone != "Asia/Shanghai" {
			t.Errorf("user %d (locale %s) lives in %s, want Asia/Shanghai", i, u.Locale, u.TimeZone)
		}
		traits := u.traits(u.SignupAt)
		consent, ok := traits["consent"].(map[string]any)
		if !ok || len(consent) != len(consentRates) {
			t.Fatalf("user %d: consent trait %#v, want one entry per channel", i, traits["consent"])
		}
		for ch, v := range consent {
			if v.(bool) {
				granted[ch]++
			}
		}
	}
	for _, c := range consentRates {
		if got := float64(granted[c.channel]) / users; got < c.rate-0.04 || got > c.rate+0.04 {
			t.Errorf("%s consent share %.3f, want %.2f±0.04", c.channel, got, c.rate)
		}
	}
}
