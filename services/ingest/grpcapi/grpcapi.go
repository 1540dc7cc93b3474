// Package grpcapi implements strata.ingest.v1.IngestService over the pipeline and the
// catalog. Requests are validated by the server's protovalidate interceptor before they
// arrive here; the pipeline checks the normalised events again (a direct check of the
// same rules, cheap next to the interceptor's).
//
// Errors map at this edge only: invalid input is InvalidArgument with a field violation
// per problem (events[i].field, items[i].field), an unavailable Kafka or Redis is
// Unavailable and overload ResourceExhausted, both with a google.rpc.RetryInfo detail and
// a retry-after header (seconds).
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/rpcerr"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/ingest/catalog"
	"github.com/stratahq/strata/services/ingest/inflight"
	"github.com/stratahq/strata/services/ingest/pipeline"
	"github.com/stratahq/strata/services/ingest/throughput"
)

type processor interface {
	Process(ctx context.Context, events []*eventv1.Event) (pipeline.Result, error)
}

type items interface {
	Upsert(ctx context.Context, items []*eventv1.CatalogItem) error
	Delete(ctx context.Context, ids []string) error
}

// RetryAfter is the delay suggested to clients of an overloaded or unavailable service.
const RetryAfter = time.Second

type erasures interface {
	RequestErasure(ctx context.Context, userID, requestID string) (*privacyv1.PrivacyRequest, error)
}

// Server implements IngestService.
type Server struct {
	ingestv1.UnimplementedIngestServiceServer
	proc     processor
	catalog  items
	erasures erasures
	stats    Stats
	instance string
	now      func() time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithErasures serves RequestErasure with e; without it the call is Unimplemented.
func WithErasures(e erasures) Option { return func(s *Server) { s.erasures = e } }

// Stats is the per-minute count of accepted events; *throughput.Counter implements it.
type Stats interface {
	Started() time.Time
	Minutes() []throughput.Minute
}

// WithStats serves GetIngestStats from st, naming the answering instance; without it the
// call is Unimplemented.
func WithStats(st Stats, instance string) Option {
	return func(s *Server) { s.stats, s.instance = st, instance }
}

// GetIngestStats implements IngestService: this instance's accepted events per minute.
func (s *Server) GetIngestStats(ctx context.Context, req *ingestv1.GetIngestStatsRequest) (*ingestv1.IngestStats, error) {
	if s.stats == nil {
		return s.UnimplementedIngestServiceServer.GetIngestStats(ctx, req)
	}
	out := &ingestv1.IngestStats{Instance: s.instance, StartedAt: timestamppb.New(s.stats.Started())}
	for _, m := range s.stats.Minutes() {
		out.Minutes = append(out.Minutes, &ingestv1.IngestMinute{Start: timestamppb.New(m.Start), Accepted: m.Accepted, Duplicates: m.Duplicates})
	}
	return out, nil
}

// New returns the gRPC service.
func New(p processor, c items, opts ...Option) *Server {
	s := &Server{proc: p, catalog: c, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// RequestErasure implements IngestService: the request goes to strata.privacy.v1, keyed
// by the user id; it returns once Kafka acknowledged it.
func (s *Server) RequestErasure(ctx context.Context, req *ingestv1.RequestErasureRequest) (*ingestv1.RequestErasureResponse, error) {
	if s.erasures == nil {
		return s.UnimplementedIngestServiceServer.RequestErasure(ctx, req)
	}
	r, err := s.erasures.RequestErasure(ctx, req.GetUserId(), req.GetRequestId())
	if err != nil {
		// The request is validated before it gets here: what fails is the publish.
		return nil, retryable(ctx, codes.Unavailable, "event bus unavailable, retry later")
	}
	return &ingestv1.RequestErasureResponse{RequestId: r.GetRequestId(), RequestedAt: r.GetRequestedAt()}, nil
}

// Ingest implements IngestService. The request's event is normalised in place: the
// request belongs to this call, and copying it (properties and all) cost more than the
// rest of the handling.
func (s *Server) Ingest(ctx context.Context, req *ingestv1.IngestRequest) (*ingestv1.IngestResponse, error) {
	ev := req.GetEvent()
	if ev == nil {
		ev = &eventv1.Event{}
	}
	s.stamp(ev)
	res, err := s.proc.Process(ctx, []*eventv1.Event{ev})
	if err != nil {
		return nil, toStatus(ctx, err, func(int) string { return "event" })
	}
	return &ingestv1.IngestResponse{Duplicate: len(res.Duplicate) == 1 && res.Duplicate[0]}, nil
}

// IngestBatch implements IngestService. The batch is accepted whole or not at all; a
// rejection names every invalid event by index. Events are normalised in place, as in
// Ingest.
func (s *Server) IngestBatch(ctx context.Context, req *ingestv1.IngestBatchRequest) (*ingestv1.IngestBatchResponse, error) {
	events := req.GetEvents()
	for i, ev := range events {
		if ev == nil {
			events[i] = &eventv1.Event{}
		}
		s.stamp(events[i])
	}
	res, err := s.proc.Process(ctx, events)
	if err != nil {
		return nil, toStatus(ctx, err, func(i int) string { return fmt.Sprintf("events[%d]", i) })
	}
	return &ingestv1.IngestBatchResponse{Accepted: int32(len(events)), Duplicates: int32(res.Duplicates())}, nil
}

// UpsertItems implements IngestService: items go to the compacted catalog topic.
func (s *Server) UpsertItems(ctx context.Context, req *ingestv1.UpsertItemsRequest) (*ingestv1.UpsertItemsResponse, error) {
	if err := s.catalog.Upsert(ctx, req.GetItems()); err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &ingestv1.UpsertItemsResponse{Upserted: int32(len(req.GetItems()))}, nil
}

// DeleteItems implements IngestService: each item id gets a tombstone on the catalog topic.
func (s *Server) DeleteItems(ctx context.Context, req *ingestv1.DeleteItemsRequest) (*ingestv1.DeleteItemsResponse, error) {
	if err := s.catalog.Delete(ctx, req.GetItemIds()); err != nil {
		return nil, toStatus(ctx, err, nil)
	}
	return &ingestv1.DeleteItemsResponse{Deleted: int32(len(req.GetItemIds()))}, nil
}

func (s *Server) stamp(ev *eventv1.Event) {
	now := timestamppb.New(s.now())
	ev.ReceivedAt = now
	if ev.GetTimestamp() == nil {
		ev.Timestamp = now
	}
}

// toStatus maps err to a status; prefix names the request field of the event at an index.
func toStatus(ctx context.Context, err error, prefix func(int) string) error {
	var (
		re *pipeline.RejectedError
		ie *pipeline.InvalidError
		ce *catalog.InvalidError
	)
	switch {
	case errors.As(err, &re):
		var vs []rpcerr.FieldViolation
		for _, ie := range re.Events {
			vs = append(vs, prefixed(prefix(ie.Index), ie.Violations)...)
		}
		return rpcerr.InvalidArgument(vs...)
	case errors.As(err, &ie):
		return rpcerr.InvalidArgument(prefixed(prefix(ie.Index), ie.Violations)...)
	case errors.As(err, &ce):
		return rpcerr.InvalidArgument(ce.Violations...)
	case errors.Is(err, pipeline.ErrUnavailable), errors.Is(err, catalog.ErrUnavailable):
		return retryable(ctx, codes.Unavailable, "event bus unavailable, retry later")
	default:
		return status.Errorf(codes.Internal, "ingest: %v", err)
	}
}

func prefixed(prefix string, vs []rpcerr.FieldViolation) []rpcerr.FieldViolation {
	out := make([]rpcerr.FieldViolation, len(vs))
	for i, v := range vs {
		out[i] = rpcerr.FieldViolation{Field: prefix + "." + v.Field, Description: v.Description}
	}
	return out
}

// retryable returns a status with a RetryInfo detail, and sets the retry-after header.
func retryable(ctx context.Context, code codes.Code, msg string) error {
	_ = grpc.SetHeader(ctx, metadata.Pairs("retry-after", strconv.Itoa(int((RetryAfter+time.Second-1)/time.Second))))
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryAfter)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// Admission returns an interceptor admitting IngestService calls through l: a call that
// does not fit is refused with ResourceExhausted at once. Other services (health,
// reflection) are not limited. A call weighs the size of its request message: as
// RequestSizes noted it when the server has that stats handler, else proto.Size (a walk
// of the whole request, properties and all, that costs as much as validating it).
func Admission(l *inflight.Limiter) grpc.UnaryServerInterceptor {
	prefix := "/" + ingestv1.IngestService_ServiceDesc.ServiceName + "/"
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, prefix) {
			return next(ctx, req)
		}
		size := 1
		if n, ok := ctx.Value(requestSizeKey{}).(*atomic.Int64); ok && n.Load() > 0 {
			size = int(n.Load())
		} else if m, ok := req.(proto.Message); ok {
			size = proto.Size(m)
		}
		release, ok := l.TryAcquire(int64(size))
		if !ok {
			return nil, retryable(ctx, codes.ResourceExhausted, "too many requests in flight, retry later")
		}
		defer release()
		return next(ctx, req)
	}
}

// RequestSizes returns a stats handler that notes the size of each call's request message
// (uncompressed, as received) for Admission; install it with grpc.StatsHandler. gRPC
// reports a received message before the interceptors run.
func RequestSizes() stats.Handler { return requestSizes{} }

type requestSizeKey struct{}

type requestSizes struct{}

func (requestSizes) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, requestSizeKey{}, new(atomic.Int64))
}

func (requestSizes) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		if n, ok := ctx.Value(requestSizeKey{}).(*atomic.Int64); ok {
			n.Store(int64(in.Length))
		}
	}
}

func (requestSizes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (requestSizes) HandleConn(context.Context, stats.ConnStats) {}
