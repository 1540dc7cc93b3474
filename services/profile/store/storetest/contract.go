package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/store"
)

// RunContract checks a store on the Redis newStore opens. Each call of newStore must
// return a store on an empty database.
func RunContract(t *testing.T, newStore func(t *testing.T) *store.Store) {
	t.Run("put keeps the newest version", func(t *testing.T) { testPutVersions(t, newStore(t)) })
	t.Run("scan sees every profile", func(t *testing.T) { testScan(t, newStore(t)) })
	t.Run("memberships and outbox", func(t *testing.T) { testMemberships(t, newStore(t)) })
	t.Run("members paged", func(t *testing.T) { testMembersPaged(t, newStore(t)) })
	t.Run("locks", func(t *testing.T) { testLocks(t, newStore(t)) })
	t.Run("drop segment", func(t *testing.T) { testDropSegment(t, newStore(t)) })
	t.Run("batch reads and writes", func(t *testing.T) { testBatch(t, newStore(t)) })
	t.Run("erasure leaves every segment", func(t *testing.T) { testExitAll(t, newStore(t)) })
}

// testExitAll erases a user's segment state: one exit per membership, member sets
// updated, nothing left after Delete, and a second pass queues nothing.
func testExitAll(t *testing.T, s *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := []segment.Result{{SegmentID: "a", SegmentVersion: 1, Member: true}, {SegmentID: "b", SegmentVersion: 2, Member: true}}
	for _, u := range []string{"u1", "u2"} {
		if _, err := s.ApplyMembership(ctx, u, 3, at, in); err != nil {
			t.Fatalf("ApplyMembership %s: %v", u, err)
		}
		if err := s.FlushOutbox(ctx, u, func(context.Context, []*profilev1.SegmentEvent) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range [][]string{{"EXIT:a:1:3", "EXIT:b:2:3"}, nil} {
		n, err := s.ExitAll(ctx, "u1", at.Add(time.Hour))
		if err != nil || n != int64(len(want)) {
			t.Fatalf("ExitAll #%d: got %d, %v; want %d queued", i+1, n, err, len(want))
		}
		var got []string
		if err := s.FlushOutbox(ctx, "u1", func(_ context.Context, evs []*profilev1.SegmentEvent) error {
			for _, e := range evs {
				got = append(got, fmt.Sprintf("%s:%s:%d:%d", e.GetType().String()[len("SEGMENT_EVENT_TYPE_"):], e.GetSegmentId(), e.GetSegmentVersion(), e.GetProfileVersion()))
			}
			return nil
		}); err != nil {
			t.Fatalf("FlushOutbox: %v", err)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("ExitAll #%d: events got %v, want %v", i+1, got, want)
		}
		if err := s.Delete(ctx, "u1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if m, err := s.Memberships(ctx, "u1"); err != nil || len(m) != 0 {
			t.Errorf("ExitAll #%d: memberships got %v, %v; want none", i+1, m, err)
		}
		for _, seg := range []string{"a", "b"} {
			if ids, _, _, err := s.Members(ctx, seg, "", 10); err != nil || !slices.Equal(ids, []string{"u2"}) {
				t.Errorf("ExitAll #%d: members of %s got %v, %v; want [u2]", i+1, seg, ids, err)
			}
		}
	}
}

func testBatch(t *testing.T, s *store.Store) {
	ctx := context.Background()
	enc := func(user string, version int64) store.Encoded {
		b, err := proto.Marshal(&profilev1.Profile{UserId: user, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		return store.Encoded{UserID: user, Version: version, Bytes: b}
	}
	if err := s.Put(ctx, &profilev1.Profile{UserId: "b2", Version: 9}); err != nil {
		t.Fatal(err)
	}
	// Redis forgets its scripts (a restart): the batch loads them again.
	if err := s.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	stale, err := s.PutMany(ctx, []store.Encoded{enc("b1", 1), enc("b2", 3), enc("b1", 2)})
	if err != nil {
		t.Fatalf("PutMany: %v", err)
	}
	if want := []bool{false, true, false}; !slices.Equal(stale, want) {
		t.Errorf("PutMany stale: got %v, want %v", stale, want)
	}
	got, err := s.GetMany(ctx, []string{"b1", "b2", "nobody"})
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("GetMany: got %d profiles, want 2 (none for an unknown user)", len(got))
	}
	for user, want := range map[string]int64{"b1": 2, "b2": 9} {
		p := &profilev1.Profile{}
		if err := proto.Unmarshal(got[user], p); err != nil {
			t.Fatal(err)
		}
		if p.GetVersion() != want {
			t.Errorf("GetMany %s: got version %d, want %d", user, p.GetVersion(), want)
		}
	}

	at := time.UnixMilli(1_700_000_000_000)
	seg := []segment.Result{{SegmentID: "s1", SegmentVersion: 1, Member: true}}
	if _, err := s.ApplyMembership(ctx, "b2", 5, at, seg); err != nil {
		t.Fatal(err)
	}
	queued, err := s.ApplyMemberships(ctx, at, []store.MembershipUpdate{
		{UserID: "b1", Version: 2, Results: seg},
		{UserID: "b2", Version: 4, Results: seg}, // older than the applied 5
	})
	if err != nil {
		t.Fatalf("ApplyMemberships: %v", err)
	}
	if want := []int64{1, -1}; !slices.Equal(queued, want) {
		t.Errorf("ApplyMemberships: got %v, want %v (one queued enter, one stale)", queued, want)
	}
	if m, _ := s.Memberships(ctx, "b1"); !slices.Equal(m, []string{"s1"}) {
		t.Errorf("b1 memberships: got %v, want [s1]", m)
	}
}

func testPutVersions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a new user: got %v, want ErrNotFound", err)
	}
	tests := []struct {
		version     int64
		wantErr     error
		wantVersion int64
	}{
		{version: 2, wantVersion: 2},
		{version: 2, wantVersion: 2}, // the same version again: a redelivery
		{version: 5, wantVersion: 5},
		{version: 4, wantErr: store.ErrStale, wantVersion: 5},
	}
	for _, tt := range tests {
		err := s.Put(ctx, &profilev1.Profile{UserId: "u1", Version: tt.version})
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Put v%d: got %v, want %v", tt.version, err, tt.wantErr)
		}
		p, err := s.Get(ctx, "u1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if p.GetVersion() != tt.wantVersion {
			t.Errorf("after Put v%d: got version %d, want %d", tt.version, p.GetVersion(), tt.wantVersion)
		}
	}
	if err := s.Delete(ctx, "u1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
}

func testScan(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var want []string
	for i := range 1234 {
		id := fmt.Sprintf("user-%04d", i)
		want = append(want, id)
		if err := s.Put(ctx, &profilev1.Profile{UserId: id, Version: 1}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	// Keys of the service that are not profiles are not scanned.
	if err := s.MarkRestored(ctx, 1); err != nil {
		t.Fatalf("MarkRestored: %v", err)
	}
	var got []string
	err := s.Scan(ctx, func(batch []*profilev1.Profile) error {
		for _, p := range batch {
			got = append(got, p.GetUserId())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	sort.Strings(got)
	got = slices.Compact(got)
	if !slices.Equal(got, want) {
		t.Errorf("Scan: got %d users, want %d", len(got), len(want))
	}
}

func testMemberships(t *testing.T, s *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var published []*profilev1.SegmentEvent
	publish := func(_ context.Context, evs []*profilev1.SegmentEvent) error {
		published = append(published, evs...)
		return nil
	}
	steps := []struct {
		name      string
		version   int64
		results   []segment.Result
		wantErr   error
		wantQueue int64
		wantIn    []string
		wantEvent []string // type:segment
	}{
		{"enter a and b", 3, []segment.Result{{SegmentID: "a", SegmentVersion: 1, Member: true}, {SegmentID: "b", SegmentVersion: 1, Member: true}, {SegmentID: "c", SegmentVersion: 1, Member: false}}, nil, 2, []string{"a", "b"}, []string{"ENTER:a", "ENTER:b"}},
		{"same verdicts", 3, []segment.Result{{SegmentID: "a", SegmentVersion: 1, Member: true}, {SegmentID: "b", SegmentVersion: 1, Member: true}, {SegmentID: "c", SegmentVersion: 1, Member: false}}, nil, 0, []string{"a", "b"}, nil},
		{"stale version", 2, []segment.Result{{SegmentID: "a", SegmentVersion: 1, Member: false}}, store.ErrStaleMembership, 0, []string{"a", "b"}, nil},
		{"exit a, enter c", 4, []segment.Result{{SegmentID: "a", SegmentVersion: 1, Member: false}, {SegmentID: "c", SegmentVersion: 1, Member: true}}, nil, 2, []string{"b", "c"}, []string{"EXIT:a", "ENTER:c"}},
		{"partial: b only", 5, []segment.Result{{SegmentID: "b", SegmentVersion: 2, Member: false}}, nil, 1, []string{"c"}, []string{"EXIT:b"}},
	}
	for _, st := range steps {
		published = nil
		n, err := s.ApplyMembership(ctx, "u1", st.version, at, st.results)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: ApplyMembership got %v, want %v", st.name, err, st.wantErr)
		}
		if n != st.wantQueue {
			t.Errorf("%s: queued got %d, want %d", st.name, n, st.wantQueue)
		}
		if err := s.FlushOutbox(ctx, "u1", publish); err != nil {
			t.Fatalf("%s: FlushOutbox: %v", st.name, err)
		}
		var evs []string
		for _, e := range published {
			evs = append(evs, fmt.Sprintf("%s:%s", e.GetType().String()[len("SEGMENT_EVENT_TYPE_"):], e.GetSegmentId()))
			if e.GetUserId() != "u1" || e.GetProfileVersion() != st.version || !e.GetOccurredAt().AsTime().Equal(at) {
				t.Errorf("%s: event %v: want user u1, profile version %d, at %v", st.name, e, st.version, at)
			}
		}
		if !slices.Equal(evs, st.wantEvent) {
			t.Errorf("%s: events got %v, want %v", st.name, evs, st.wantEvent)
		}
		in, err := s.Memberships(ctx, "u1")
		if err != nil {
			t.Fatalf("Memberships: %v", err)
		}
		sort.Strings(in)
		if !slices.Equal(in, st.wantIn) {
			t.Errorf("%s: memberships got %v, want %v", st.name, in, st.wantIn)
		}
		for _, seg := range []string{"a", "b", "c"} {
			ids, _, _, err := s.Members(ctx, seg, "", 10)
			if err != nil {
				t.Fatalf("Members: %v", err)
			}
			if member := slices.Contains(st.wantIn, seg); member != slices.Contains(ids, "u1") {
				t.Errorf("%s: segment %s members %v, want u1 in it: %v", st.name, seg, ids, member)
			}
		}
	}

	// A failed publish keeps the events for the next flush.
	if _, err := s.ApplyMembership(ctx, "u1", 6, at, []segment.Result{{SegmentID: "a", SegmentVersion: 1, Member: true}}); err != nil {
		t.Fatalf("ApplyMembership: %v", err)
	}
	boom := errors.New("kafka down")
	if err := s.FlushOutbox(ctx, "u1", func(context.Context, []*profilev1.SegmentEvent) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("FlushOutbox with a failing publish: got %v, want %v", err, boom)
	}
	published = nil
	if err := s.FlushOutbox(ctx, "u1", publish); err != nil {
		t.Fatalf("FlushOutbox: %v", err)
	}
	if len(published) != 1 || published[0].GetSegmentId() != "a" || published[0].GetType() != profilev1.SegmentEventType_SEGMENT_EVENT_TYPE_ENTER {
		t.Errorf("events after a failed flush: got %v, want one enter of a", published)
	}
}

func testMembersPaged(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("u%02d", i)
		want = append(want, id)
		if _, err := s.ApplyMembership(ctx, id, 1, time.Unix(0, 0), []segment.Result{{SegmentID: "s", SegmentVersion: 1, Member: true}}); err != nil {
			t.Fatalf("ApplyMembership: %v", err)
		}
		if err := s.SyncMembers(ctx, id, []string{"s"}); err != nil {
			t.Fatalf("SyncMembers: %v", err)
		}
	}
	var got []string
	token, pages := "", 0
	for {
		ids, next, total, err := s.Members(ctx, "s", token, 10)
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		if total != 25 {
			t.Errorf("total: got %d, want 25", total)
		}
		got = append(got, ids...)
		pages++
		if next == "" {
			break
		}
		token = next
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("members: got %v in %d pages, want %v in 3", got, pages, want)
	}
	if _, _, _, err := s.Members(ctx, "s", "!!!", 10); !errors.Is(err, store.ErrBadPageToken) {
		t.Errorf("Members with a bad token: got %v, want ErrBadPageToken", err)
	}
}

func testLocks(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a, ok, err := s.TryLock(ctx, "strata:test:lock", "a", time.Second)
	if err != nil || !ok {
		t.Fatalf("TryLock a: got %v %v, want the lock", ok, err)
	}
	if _, ok, err := s.TryLock(ctx, "strata:test:lock", "b", time.Second); err != nil || ok {
		t.Fatalf("TryLock b while a holds it: got %v %v, want no lock", ok, err)
	}
	if err := a.Extend(ctx); err != nil {
		t.Errorf("Extend: %v", err)
	}
	ran := false
	if err := a.Hold(ctx, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("Hold: got %v ran=%v, want nil true", err, ran)
	}
	if _, ok, err := s.TryLock(ctx, "strata:test:lock", "b", time.Second); err != nil || !ok {
		t.Errorf("TryLock b after release: got %v %v, want the lock", ok, err)
	}
	if err := a.Extend(ctx); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("Extend of a released lock: got %v, want ErrLockLost", err)
	}
}

func testDropSegment(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for _, u := range []string{"u1", "u2"} {
		if _, err := s.ApplyMembership(ctx, u, 1, time.Unix(0, 0), []segment.Result{{SegmentID: "gone", SegmentVersion: 1, Member: true}, {SegmentID: "kept", SegmentVersion: 1, Member: true}}); err != nil {
			t.Fatalf("ApplyMembership: %v", err)
		}
		if err := s.SyncMembers(ctx, u, []string{"gone", "kept"}); err != nil {
			t.Fatalf("SyncMembers: %v", err)
		}
	}
	if err := s.SetSegmentReady(ctx, "gone", 1, time.Unix(10, 0)); err != nil {
		t.Fatalf("SetSegmentReady: %v", err)
	}
	if err := s.DropSegment(ctx, "gone"); err != nil {
		t.Fatalf("DropSegment: %v", err)
	}
	for _, u := range []string{"u1", "u2"} {
		in, err := s.Memberships(ctx, u)
		if err != nil {
			t.Fatalf("Memberships: %v", err)
		}
		if !slices.Equal(in, []string{"kept"}) {
			t.Errorf("%s memberships after drop: got %v, want [kept]", u, in)
		}
	}
	if n, _ := s.MemberCount(ctx, "gone"); n != 0 {
		t.Errorf("members of a dropped segment: got %d, want 0", n)
	}
	if st, _ := s.GetSegmentStatus(ctx, "gone"); st != (store.SegmentStatus{}) {
		t.Errorf("status of a dropped segment: got %+v, want zero", st)
	}
	// RFM boundaries and grid round-trip.
	b := &profilev1.RfmBoundaries{Recency: []int64{1, 2, 3, 4}, Frequency: []int64{1, 1, 2, 3}, Monetary: []int64{1, 2, 3, 4}, Population: 9, Version: 7}
	g := &profilev1.RfmGrid{Boundaries: b, Currency: "CNY", Tiers: map[string]int64{"Champions": 2}}
	if err := s.SaveCalibration(ctx, b, g); err != nil {
		t.Fatalf("SaveCalibration: %v", err)
	}
	gotB, err := s.Boundaries(ctx)
	if err != nil || !proto.Equal(gotB, b) {
		t.Errorf("Boundaries: got %v %v, want %v", gotB, err, b)
	}
	gotG, err := s.Grid(ctx)
	if err != nil || !proto.Equal(gotG, g) {
		t.Errorf("Grid: got %v %v, want %v", gotG, err, g)
	}
}
