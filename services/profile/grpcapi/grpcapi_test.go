package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/grpcapi"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
	"github.com/stratahq/strata/services/profile/store/storetest"
	"github.com/stratahq/strata/services/profile/sweep"
)

// direct applies definition changes to the registry at once, as the topic would.
type direct struct{ reg *segment.Registry }

func (d direct) Put(_ context.Context, seg *profilev1.Segment) error {
	_, err := d.reg.Put(seg)
	return err
}

func (d direct) Delete(_ context.Context, id string) error {
	d.reg.Delete(id)
	return nil
}

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	srv     *grpcapi.Server
	store   *store.Store
	sweeper *sweep.Sweeper
}

// newFixture stores n users: user-i completed i lessons yesterday, and users with an even
// i bought an order of i*1000 minor units i days ago.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	s, _ := storetest.Embedded(t)
	c, err := segment.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	reg := segment.NewRegistry(c)
	bounds, clusters := &sweep.Boundaries{}, &sweep.Clusters{}
	clock := func() time.Time { return now }
	sw := sweep.New(sweep.Config{Owner: "test", Clusters: clusters}, s, reg, c, state.Deriver{}, bounds,
		func(context.Context, []*profilev1.SegmentEvent) error { return nil }, clock, nil)
	srv := grpcapi.New(grpcapi.Deps{Profiles: s, Segments: s, Registry: reg, Compiler: c, Definitions: direct{reg},
		Sweeps: sw, Boundaries: bounds.Current, Clusters: clusters.Current, Now: clock})
	for i := range n {
		user := fmt.Sprintf("user-%02d", i)
		var p *profilev1.Profile
		off := int64(0)
		apply := func(ev *eventv1.Event) {
			off++
			ev.EventId, ev.UserId = fmt.Sprintf("%s-%d", user, off), user
			p, _ = state.Apply(p, user, ev, &profilev1.Position{Offset: off})
		}
		apply(&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_IDENTIFY, Timestamp: timestamppb.New(now.AddDate(0, 0, -30)),
			Traits: &structpb.Struct{Fields: map[string]*structpb.Value{"city_tier": structpb.NewStringValue("1")}}})
		for range i {
			apply(&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: state.EventLessonCompleted, Timestamp: timestamppb.New(now.AddDate(0, 0, -1))})
		}
		if i%2 == 0 {
			apply(&eventv1.Event{Type: eventv1.EventType_EVENT_TYPE_TRACK, Event: state.EventOrderCompleted, Timestamp: timestamppb.New(now.AddDate(0, 0, -i)),
				Order: &eventv1.Order{OrderId: "o", RevenueMinor: int64(i+1) * 1000, Currency: "CNY"}})
		}
		if err := s.Put(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{srv: srv, store: s, sweeper: sw}
}

func code(err error) codes.Code { return status.Code(err) }

func TestCreateSegmentBadRule(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	tests := []struct {
		rule     string
		wantDesc string
	}{
		{`p.rfm.tier == `, "1:15: Syntax error"},
		{`p.aggregates.d30.nope > 1`, "1:17: undefined field 'nope'"},
		{`p.version + 1`, "1:1: rule must be a bool expression"},
		{"p.version > 1 &&\n  p.rfm.tier == 3", "2:14: found no matching overload for '_==_'"},
	}
	for _, tt := range tests {
		_, err := f.srv.CreateSegment(context.Background(), &profilev1.CreateSegmentRequest{SegmentId: "s", Name: "S", Rule: tt.rule})
		if code(err) != codes.InvalidArgument {
			t.Errorf("rule %q: got %v, want InvalidArgument", tt.rule, err)
			continue
		}
		var br *errdetails.BadRequest
		for _, d := range status.Convert(err).Details() {
			if b, ok := d.(*errdetails.BadRequest); ok {
				br = b
			}
		}
		if br == nil || len(br.GetFieldViolations()) == 0 {
			t.Errorf("rule %q: got no field violations in %v", tt.rule, err)
			continue
		}
		v := br.GetFieldViolations()[0]
		if v.GetField() != "rule" || !strings.HasPrefix(v.GetDescription(), tt.wantDesc) {
			t.Errorf("rule %q: violation got %s %q, want rule %q…", tt.rule, v.GetField(), v.GetDescription(), tt.wantDesc)
		}
	}
	if _, err := f.srv.PreviewSegment(context.Background(), &profilev1.PreviewSegmentRequest{Rule: "p."}); code(err) != codes.InvalidArgument {
		t.Errorf("PreviewSegment with a bad rule: got %v, want InvalidArgument", err)
	}
}

func TestSegmentLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 12)

	// Preview: users with at least 5 lessons are user-05 .. user-11.
	pv, err := f.srv.PreviewSegment(ctx, &profilev1.PreviewSegmentRequest{Rule: `p.aggregates.d7.lessons_completed >= 5`, SampleSize: 3})
	if err != nil {
		t.Fatalf("PreviewSegment: %v", err)
	}
	if pv.GetCount() != 7 || pv.GetScanned() != 12 || !slices.Equal(pv.GetSample(), []string{"user-05", "user-06", "user-07"}) {
		t.Errorf("preview: got %v, want count 7 of 12, sample user-05..07", pv)
	}

	seg, err := f.srv.CreateSegment(ctx, &profilev1.CreateSegmentRequest{SegmentId: "keen", Name: "Keen", Rule: `p.aggregates.d7.lessons_completed >= 5`})
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	if seg.GetStatus() != profilev1.SegmentStatus_SEGMENT_STATUS_COMPUTING || seg.GetSize() != 0 || seg.GetVersion() == 0 {
		t.Errorf("new segment: got %v, want computing, empty, versioned", seg)
	}
	if _, err := f.srv.CreateSegment(ctx, &profilev1.CreateSegmentRequest{SegmentId: "keen", Name: "Keen", Rule: `true`}); code(err) != codes.AlreadyExists {
		t.Errorf("CreateSegment of an existing id: got %v, want AlreadyExists", err)
	}
	if err := f.sweeper.BackfillPending(ctx); err != nil {
		t.Fatalf("BackfillPending: %v", err)
	}
	seg, err = f.srv.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: "keen"})
	if err != nil {
		t.Fatalf("GetSegment: %v", err)
	}
	if seg.GetStatus() != profilev1.SegmentStatus_SEGMENT_STATUS_READY || seg.GetSize() != 7 || seg.GetComputedVersion() != seg.GetVersion() ||
		!seg.GetLastComputedAt().AsTime().Equal(now) {
		t.Errorf("back-filled segment: got %v, want ready with 7 members computed at %v", seg, now)
	}

	// Members, three pages of 3.
	var members []string
	token := ""
	for {
		page, err := f.srv.ListSegmentMembers(ctx, &profilev1.ListSegmentMembersRequest{SegmentId: "keen", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatalf("ListSegmentMembers: %v", err)
		}
		if page.GetTotal() != 7 {
			t.Errorf("members total: got %d, want 7", page.GetTotal())
		}
		members = append(members, page.GetUserIds()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{"user-05", "user-06", "user-07", "user-08", "user-09", "user-10", "user-11"}; !slices.Equal(members, want) {
		t.Errorf("members: got %v, want %v", members, want)
	}

	// The profile shows the membership.
	p, err := f.srv.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "user-08"})
	if err != nil {
		t.Fatalf("GetProfile: %v", err)
	}
	if !slices.Equal(p.GetSegments(), []string{"keen"}) || !p.GetAsOf().AsTime().Equal(now) || p.GetAggregates().GetD7().GetLessonsCompleted() != 8 {
		t.Errorf("profile: got segments %v as_of %v d7 lessons %d, want [keen] %v 8", p.GetSegments(), p.GetAsOf().AsTime(),
			p.GetAggregates().GetD7().GetLessonsCompleted(), now)
	}

	// A narrower rule: computing again, then 2 members.
	upd, err := f.srv.UpdateSegment(ctx, &profilev1.UpdateSegmentRequest{SegmentId: "keen", Name: "Keener", Rule: `p.aggregates.d7.lessons_completed >= 10`})
	if err != nil {
		t.Fatalf("UpdateSegment: %v", err)
	}
	if upd.GetVersion() <= seg.GetVersion() || upd.GetStatus() != profilev1.SegmentStatus_SEGMENT_STATUS_COMPUTING || upd.GetName() != "Keener" {
		t.Errorf("updated segment: got %v, want a newer version, computing", upd)
	}
	if err := f.sweeper.BackfillPending(ctx); err != nil {
		t.Fatalf("BackfillPending: %v", err)
	}
	if seg, _ = f.srv.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: "keen"}); seg.GetSize() != 2 {
		t.Errorf("members after the update: got %d, want 2", seg.GetSize())
	}

	// Paged listing of definitions.
	for _, id := range []string{"a", "b"} {
		if _, err := f.srv.CreateSegment(ctx, &profilev1.CreateSegmentRequest{SegmentId: id, Name: id, Rule: `true`}); err != nil {
			t.Fatal(err)
		}
	}
	l1, err := f.srv.ListSegments(ctx, &profilev1.ListSegmentsRequest{PageSize: 2})
	if err != nil {
		t.Fatalf("ListSegments: %v", err)
	}
	l2, err := f.srv.ListSegments(ctx, &profilev1.ListSegmentsRequest{PageSize: 2, PageToken: l1.GetNextPageToken()})
	if err != nil {
		t.Fatalf("ListSegments page 2: %v", err)
	}
	var ids []string
	for _, s := range append(l1.GetSegments(), l2.GetSegments()...) {
		ids = append(ids, s.GetSegmentId())
	}
	if !slices.Equal(ids, []string{"a", "b", "keen"}) || l2.GetNextPageToken() != "" {
		t.Errorf("ListSegments: got %v (next %q), want [a b keen] and no next page", ids, l2.GetNextPageToken())
	}

	if _, err := f.srv.DeleteSegment(ctx, &profilev1.DeleteSegmentRequest{SegmentId: "keen"}); err != nil {
		t.Fatalf("DeleteSegment: %v", err)
	}
	if _, err := f.srv.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: "keen"}); code(err) != codes.NotFound {
		t.Errorf("GetSegment after delete: got %v, want NotFound", err)
	}
	if p, _ := f.srv.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "user-11"}); len(p.GetSegments()) != 0 {
		t.Errorf("profile segments after delete: got %v, want none", p.GetSegments())
	}
	for _, call := range []error{
		func() error {
			_, err := f.srv.DeleteSegment(ctx, &profilev1.DeleteSegmentRequest{SegmentId: "keen"})
			return err
		}(),
		func() error {
			_, err := f.srv.UpdateSegment(ctx, &profilev1.UpdateSegmentRequest{SegmentId: "keen", Name: "x", Rule: "true"})
			return err
		}(),
		func() error {
			_, err := f.srv.ListSegmentMembers(ctx, &profilev1.ListSegmentMembersRequest{SegmentId: "keen"})
			return err
		}(),
		func() error {
			_, err := f.srv.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "nobody"})
			return err
		}(),
	} {
		if code(call) != codes.NotFound {
			t.Errorf("call on a missing resource: got %v, want NotFound", call)
		}
	}
}

func TestRfmGrid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 20)
	g, err := f.srv.GetRfmGrid(ctx, &profilev1.GetRfmGridRequest{})
	if err != nil {
		t.Fatalf("GetRfmGrid: %v", err)
	}
	if len(g.GetCells()) != 25 || g.GetBoundaries() != nil {
		t.Errorf("grid before calibration: got %d cells, boundaries %v; want 25 empty cells", len(g.GetCells()), g.GetBoundaries())
	}
	g, err = f.srv.RecalibrateRfm(ctx, &profilev1.RecalibrateRfmRequest{})
	if err != nil {
		t.Fatalf("RecalibrateRfm: %v", err)
	}
	// Ten purchasers (even i): one order each, i days ago, (i+1)*1000.
	b := g.GetBoundaries()
	if b.GetPopulation() != 10 || !slices.Equal(b.GetRecency(), []int64{2, 6, 10, 14}) || !slices.Equal(b.GetMonetary(), []int64{3000, 7000, 11000, 15000}) {
		t.Errorf("boundaries: got %v", b)
	}
	var users, revenue int64
	for _, c := range g.GetCells() {
		users += c.GetUsers()
		revenue += c.GetRevenueMinor()
	}
	if users != 10 || revenue != 100_000 || g.GetCurrency() != "CNY" {
		t.Errorf("grid: got %d users %d revenue %s, want 10 100000 CNY", users, revenue, g.GetCurrency())
	}
	again, err := f.srv.GetRfmGrid(ctx, &profilev1.GetRfmGridRequest{})
	if err != nil || again.GetBoundaries().GetVersion() != b.GetVersion() {
		t.Errorf("GetRfmGrid after calibration: got %v %v, want version %d", again.GetBoundaries(), err, b.GetVersion())
	}
	// Profiles are scored with the calibration: user-00 bought today, the most.
	p, err := f.srv.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "user-18"})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.GetRfm(); r.GetR() != 1 || r.GetF() != 1 || r.GetM() != 5 || r.GetTier() != "Others" || p.GetValueTier() != state.ValueVIP {
		t.Errorf("user-18 RFM: got %v value tier %q", r, p.GetValueTier())
	}
	p, _ = f.srv.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: "user-01"})
	if p.GetRfm().GetTier() != "" || p.GetValueTier() != state.ValueProspect {
		t.Errorf("user-01 (no purchase): got tier %q value tier %q, want none and prospect", p.GetRfm().GetTier(), p.GetValueTier())
	}

	// The calibration also clustered the 20 users by behaviour.
	m, err := f.srv.GetClusters(ctx, &profilev1.GetClustersRequest{})
	if err != nil {
		t.Fatalf("GetClusters: %v", err)
	}
	var size int64
	for _, c := range m.GetClusters() {
		size += c.GetSize()
	}
	if len(m.GetClusters()) < 2 || size != 20 || m.GetPopulation() != 20 || m.GetVersion() != b.GetVersion() {
		t.Errorf("clusters: got %d clusters of %d users (population %d, version %d)", len(m.GetClusters()), size, m.GetPopulation(), m.GetVersion())
	}
	if p.GetBehaviourCluster() < 1 || int(p.GetBehaviourCluster()) > len(m.GetClusters()) {
		t.Errorf("user-01 behaviour cluster: got %d, want 1..%d", p.GetBehaviourCluster(), len(m.GetClusters()))
	}
}

func TestGetProfileWhileRestoring(t *testing.T) {
	t.Parallel()
	s, _ := storetest.Embedded(t)
	restoring := errors.New("restoring")
	srv := grpcapi.New(grpcapi.Deps{Profiles: s, Segments: s, Restored: func(context.Context) error { return restoring }})
	if _, err := srv.GetProfile(context.Background(), &profilev1.GetProfileRequest{UserId: "u1"}); code(err) != codes.Unavailable {
		t.Errorf("GetProfile while restoring: got %v, want Unavailable", err)
	}
}
