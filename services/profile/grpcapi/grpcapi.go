// Package grpcapi implements strata.profile.v1.ProfileService: profiles (derived as of the
// request), segment definitions, previews and members, the RFM grid and the behaviour
// clusters. Errors map to
// gRPC codes here and only here: an unknown user or segment is NotFound, a rule that does
// not compile is InvalidArgument with its position, Redis or Kafka trouble is
// Unavailable. A Server is safe for concurrent use.
package grpcapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/rpcerr"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/cluster"
	"github.com/stratahq/strata/services/profile/rfm"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
)

// Profiles is what the server reads profiles and memberships from.
type Profiles interface {
	Get(ctx context.Context, userID string) (*profilev1.Profile, error)
	Memberships(ctx context.Context, userID string) ([]string, error)
}

// Segments is what the server reads segment state from.
type Segments interface {
	Members(ctx context.Context, segmentID, pageToken string, n int) ([]string, string, int64, error)
	MemberCount(ctx context.Context, segmentID string) (int64, error)
	GetSegmentStatus(ctx context.Context, segmentID string) (store.SegmentStatus, error)
	DropSegment(ctx context.Context, segmentID string) error
	Grid(ctx context.Context) (*profilev1.RfmGrid, error)
	Clusters(ctx context.Context) (*profilev1.ClusterModel, error)
}

// DefinitionWriter publishes definition changes; it returns once the registry has them.
type DefinitionWriter interface {
	Put(ctx context.Context, seg *profilev1.Segment) error
	Delete(ctx context.Context, id string) error
}

// Sweeps runs previews and calibrations.
type Sweeps interface {
	Preview(ctx context.Context, rule *segment.Rule, sample int) (count, scanned int64, ids []string, err error)
	Calibrate(ctx context.Context) (*profilev1.RfmGrid, error)
}

// Deps are the server's collaborators.
type Deps struct {
	Profiles    Profiles
	Segments    Segments
	Registry    *segment.Registry
	Compiler    *segment.Compiler
	Definitions DefinitionWriter
	Sweeps      Sweeps
	Deriver     state.Deriver
	// Boundaries returns the current RFM boundaries.
	Boundaries func() *profilev1.RfmBoundaries
	// Clusters returns the current behaviour clusters.
	Clusters func() *profilev1.ClusterModel
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Restored, when set, fails while the profile cache is being rebuilt; reads are then
	// Unavailable rather than served from a partial cache.
	Restored func(context.Context) error
}

// Server implements ProfileService.
type Server struct {
	profilev1.UnimplementedProfileServiceServer
	d Deps
}

// New returns the gRPC service.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Boundaries == nil {
		d.Boundaries = func() *profilev1.RfmBoundaries { return nil }
	}
	if d.Clusters == nil {
		d.Clusters = func() *profilev1.ClusterModel { return nil }
	}
	return &Server{d: d}
}

func unavailable(what string, err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

// GetProfile implements ProfileService.
func (s *Server) GetProfile(ctx context.Context, req *profilev1.GetProfileRequest) (*profilev1.Profile, error) {
	if s.d.Restored != nil {
		if err := s.d.Restored(ctx); err != nil {
			return nil, unavailable("profiles", err)
		}
	}
	p, err := s.d.Profiles.Get(ctx, req.GetUserId())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no profile for user %q", req.GetUserId())
	case err != nil:
		return nil, unavailable("read profile", err)
	}
	s.d.Deriver.Derive(p, s.d.Now(), s.d.Boundaries())
	p.BehaviourCluster = cluster.Assign(s.d.Clusters(), p)
	if s.d.Registry != nil {
		ids, err := s.d.Profiles.Memberships(ctx, req.GetUserId())
		if err != nil {
			return nil, unavailable("read memberships", err)
		}
		// Memberships of a deleted segment may linger until the next sweep.
		ids = slices.DeleteFunc(ids, func(id string) bool { _, ok := s.d.Registry.Get(id); return !ok })
		slices.Sort(ids)
		p.Segments = ids
	}
	return p, nil
}

// ListSegments implements ProfileService.
func (s *Server) ListSegments(ctx context.Context, req *profilev1.ListSegmentsRequest) (*profilev1.ListSegmentsResponse, error) {
	size := int(req.GetPageSize())
	if size == 0 {
		size = 100
	}
	after := ""
	if t := req.GetPageToken(); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "page_token", Description: "not a token this API issued"})
		}
		after = string(b)
	}
	resp := &profilev1.ListSegmentsResponse{}
	for _, d := range s.d.Registry.List() {
		if d.Segment.GetSegmentId() <= after {
			continue
		}
		if len(resp.Segments) == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(resp.Segments[size-1].GetSegmentId()))
			break
		}
		seg, err := s.describe(ctx, d)
		if err != nil {
			return nil, err
		}
		resp.Segments = append(resp.Segments, seg)
	}
	return resp, nil
}

// describe returns a definition with its members count and back-fill status.
func (s *Server) describe(ctx context.Context, d *segment.Definition) (*profilev1.Segment, error) {
	seg := proto.CloneOf(d.Segment)
	st, err := s.d.Segments.GetSegmentStatus(ctx, seg.GetSegmentId())
	if err != nil {
		return nil, unavailable("read segment status", err)
	}
	n, err := s.d.Segments.MemberCount(ctx, seg.GetSegmentId())
	if err != nil {
		return nil, unavailable("count segment members", err)
	}
	seg.Size = n
	seg.ComputedVersion = st.ComputedVersion
	seg.Status = profilev1.SegmentStatus_SEGMENT_STATUS_READY
	if st.ComputedVersion < seg.GetVersion() {
		seg.Status = profilev1.SegmentStatus_SEGMENT_STATUS_COMPUTING
	}
	if !st.ComputedAt.IsZero() {
		seg.LastComputedAt = timestamppb.New(st.ComputedAt)
	}
	return seg, nil
}

func (s *Server) definition(id string) (*segment.Definition, error) {
	d, ok := s.d.Registry.Get(id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no segment %q", id)
	}
	return d, nil
}

// GetSegment implements ProfileService.
func (s *Server) GetSegment(ctx context.Context, req *profilev1.GetSegmentRequest) (*profilev1.Segment, error) {
	d, err := s.definition(req.GetSegmentId())
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, d)
}

// compile returns the compiled rule or InvalidArgument naming the rule's problems with
// their positions.
func (s *Server) compile(rule string) (*segment.Rule, error) {
	r, err := s.d.Compiler.Compile(rule)
	var rerr *segment.RuleError
	if errors.As(err, &rerr) {
		vs := make([]rpcerr.FieldViolation, len(rerr.Issues))
		for i, is := range rerr.Issues {
			vs[i] = rpcerr.FieldViolation{Field: "rule", Description: is.String()}
		}
		return nil, rpcerr.InvalidArgument(vs...)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "compile rule: %v", err)
	}
	return r, nil
}

// version is the next definition version: larger than the previous one and than any a
// deleted definition of the same id can have had.
func (s *Server) version(prev int64) int64 {
	return max(prev+1, s.d.Now().UnixMicro())
}

// CreateSegment implements ProfileService.
func (s *Server) CreateSegment(ctx context.Context, req *profilev1.CreateSegmentRequest) (*profilev1.Segment, error) {
	if _, err := s.compile(req.GetRule()); err != nil {
		return nil, err
	}
	id := req.GetSegmentId()
	if id == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		id = "seg-" + hex.EncodeToString(b[:])
	}
	if _, ok := s.d.Registry.Get(id); ok {
		return nil, status.Errorf(codes.AlreadyExists, "segment %q exists", id)
	}
	now := timestamppb.New(s.d.Now())
	seg := &profilev1.Segment{
		SegmentId: id, Name: req.GetName(), Description: req.GetDescription(), Rule: strings.TrimSpace(req.GetRule()),
		Version: s.version(0), CreatedAt: now, UpdatedAt: now,
	}
	if err := s.d.Definitions.Put(ctx, seg); err != nil {
		return nil, unavailable("store segment", err)
	}
	return s.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: id})
}

// UpdateSegment implements ProfileService.
func (s *Server) UpdateSegment(ctx context.Context, req *profilev1.UpdateSegmentRequest) (*profilev1.Segment, error) {
	d, err := s.definition(req.GetSegmentId())
	if err != nil {
		return nil, err
	}
	if _, err := s.compile(req.GetRule()); err != nil {
		return nil, err
	}
	seg := proto.CloneOf(d.Segment)
	seg.Name, seg.Description = req.GetName(), req.GetDescription()
	seg.Rule = strings.TrimSpace(req.GetRule())
	seg.Version = s.version(seg.GetVersion())
	seg.UpdatedAt = timestamppb.New(s.d.Now())
	if err := s.d.Definitions.Put(ctx, seg); err != nil {
		return nil, unavailable("store segment", err)
	}
	return s.GetSegment(ctx, &profilev1.GetSegmentRequest{SegmentId: seg.GetSegmentId()})
}

// DeleteSegment implements ProfileService.
func (s *Server) DeleteSegment(ctx context.Context, req *profilev1.DeleteSegmentRequest) (*profilev1.DeleteSegmentResponse, error) {
	if _, err := s.definition(req.GetSegmentId()); err != nil {
		return nil, err
	}
	if err := s.d.Definitions.Delete(ctx, req.GetSegmentId()); err != nil {
		return nil, unavailable("delete segment", err)
	}
	if err := s.d.Segments.DropSegment(ctx, req.GetSegmentId()); err != nil {
		return nil, unavailable("drop segment members", err)
	}
	return &profilev1.DeleteSegmentResponse{}, nil
}

// PreviewSegment implements ProfileService.
func (s *Server) PreviewSegment(ctx context.Context, req *profilev1.PreviewSegmentRequest) (*profilev1.PreviewSegmentResponse, error) {
	rule, err := s.compile(req.GetRule())
	if err != nil {
		return nil, err
	}
	n := int(req.GetSampleSize())
	if n == 0 {
		n = 10
	}
	count, scanned, ids, err := s.d.Sweeps.Preview(ctx, rule, n)
	if err != nil {
		return nil, unavailable("preview segment", err)
	}
	return &profilev1.PreviewSegmentResponse{Count: count, Scanned: scanned, Sample: ids}, nil
}

// ListSegmentMembers implements ProfileService.
func (s *Server) ListSegmentMembers(ctx context.Context, req *profilev1.ListSegmentMembersRequest) (*profilev1.ListSegmentMembersResponse, error) {
	if _, err := s.definition(req.GetSegmentId()); err != nil {
		return nil, err
	}
	n := int(req.GetPageSize())
	if n == 0 {
		n = 100
	}
	ids, next, total, err := s.d.Segments.Members(ctx, req.GetSegmentId(), req.GetPageToken(), n)
	if errors.Is(err, store.ErrBadPageToken) {
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "page_token", Description: "not a token this API issued"})
	}
	if err != nil {
		return nil, unavailable("list segment members", err)
	}
	return &profilev1.ListSegmentMembersResponse{UserIds: ids, NextPageToken: next, Total: total}, nil
}

// GetRfmGrid implements ProfileService.
func (s *Server) GetRfmGrid(ctx context.Context, _ *profilev1.GetRfmGridRequest) (*profilev1.RfmGrid, error) {
	g, err := s.d.Segments.Grid(ctx)
	if err != nil {
		return nil, unavailable("read RFM grid", err)
	}
	if g == nil {
		// Not calibrated yet: an empty grid.
		return rfm.NewGrid().Proto(nil, "", s.d.Now()), nil
	}
	return g, nil
}

// RecalibrateRfm implements ProfileService.
func (s *Server) RecalibrateRfm(ctx context.Context, _ *profilev1.RecalibrateRfmRequest) (*profilev1.RfmGrid, error) {
	g, err := s.d.Sweeps.Calibrate(ctx)
	if err != nil {
		return nil, unavailable("calibrate RFM", err)
	}
	if g == nil {
		return s.GetRfmGrid(ctx, nil)
	}
	return g, nil
}

// GetClusters implements ProfileService.
func (s *Server) GetClusters(ctx context.Context, _ *profilev1.GetClustersRequest) (*profilev1.ClusterModel, error) {
	m, err := s.d.Segments.Clusters(ctx)
	if err != nil {
		return nil, unavailable("read clusters", err)
	}
	if m == nil {
		return &profilev1.ClusterModel{Features: cluster.Features}, nil
	}
	return m, nil
}
