// Package grpcapi implements strata.ingest.v1.IngestService over the pipeline. Requests
// are validated by the server's protovalidate interceptor before they arrive here.
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/rpcerr"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	"github.com/stratahq/strata/services/ingest/pipeline"
)

type acceptor interface {
	Accept(ctx context.Context, events ...*eventv1.Event) error
}

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Server implements IngestService.
type Server struct {
	ingestv1.UnimplementedIngestServiceServer
	accept acceptor
	pub    publisher
	now    func() time.Time
}

// New returns the gRPC service.
func New(a acceptor, pub publisher) *Server {
	return &Server{accept: a, pub: pub, now: time.Now}
}

// Ingest implements IngestService.
func (s *Server) Ingest(ctx context.Context, req *ingestv1.IngestRequest) (*ingestv1.IngestResponse, error) {
	ev := proto.CloneOf(req.GetEvent())
	s.stamp(ev)
	if err := s.accept.Accept(ctx, ev); err != nil {
		return nil, toStatus(err, "event")
	}
	return &ingestv1.IngestResponse{}, nil
}

// IngestBatch implements IngestService. The batch is accepted whole or not at all; a
// rejection names the event's index.
func (s *Server) IngestBatch(ctx context.Context, req *ingestv1.IngestBatchRequest) (*ingestv1.IngestBatchResponse, error) {
	events := make([]*eventv1.Event, len(req.GetEvents()))
	for i, ev := range req.GetEvents() {
		events[i] = proto.CloneOf(ev)
		s.stamp(events[i])
	}
	if err := s.accept.Accept(ctx, events...); err != nil {
		var ie *pipeline.InvalidError
		if errors.As(err, &ie) {
			return nil, toStatus(err, fmt.Sprintf("events[%d]", ie.Index))
		}
		return nil, toStatus(err, "events")
	}
	return &ingestv1.IngestBatchResponse{Accepted: int32(len(events))}, nil
}

// UpsertItems implements IngestService: items go to the compacted catalog topic.
func (s *Server) UpsertItems(ctx context.Context, req *ingestv1.UpsertItemsRequest) (*ingestv1.UpsertItemsResponse, error) {
	msgs := make([]bus.Message, 0, len(req.GetItems()))
	for _, it := range req.GetItems() {
		it = proto.CloneOf(it)
		if it.GetUpdatedAt() == nil {
			it.UpdatedAt = timestamppb.New(s.now())
		}
		value, err := proto.Marshal(it)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "marshal item: %v", err)
		}
		msgs = append(msgs, bus.Message{Topic: topics.Catalog, Key: []byte(it.GetItemId()), Value: value})
	}
	if err := s.pub.Publish(ctx, msgs...); err != nil {
		return nil, status.Errorf(codes.Unavailable, "publish items: %v", err)
	}
	return &ingestv1.UpsertItemsResponse{Upserted: int32(len(msgs))}, nil
}

func (s *Server) stamp(ev *eventv1.Event) {
	now := timestamppb.New(s.now())
	ev.ReceivedAt = now
	if ev.GetTimestamp() == nil {
		ev.Timestamp = now
	}
}

func toStatus(err error, prefix string) error {
	var ie *pipeline.InvalidError
	switch {
	case errors.As(err, &ie):
		vs := make([]rpcerr.FieldViolation, len(ie.Violations))
		for i, v := range ie.Violations {
			vs[i] = rpcerr.FieldViolation{Field: prefix + "." + v.Field, Description: v.Description}
		}
		return rpcerr.InvalidArgument(vs...)
	case errors.Is(err, pipeline.ErrUnavailable):
		return status.Error(codes.Unavailable, "event bus unavailable, retry later")
	default:
		return status.Errorf(codes.Internal, "ingest: %v", err)
	}
}
