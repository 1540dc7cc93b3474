// Package grpcapi implements strata.profile.v1.ProfileService over the profile store.
package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/store"
)

type profiles interface {
	Get(ctx context.Context, userID string) (*profilev1.Profile, error)
}

// Server implements ProfileService.
type Server struct {
	profilev1.UnimplementedProfileServiceServer
	profiles profiles
}

// New returns the gRPC service.
func New(p profiles) *Server { return &Server{profiles: p} }

// GetProfile implements ProfileService.
func (s *Server) GetProfile(ctx context.Context, req *profilev1.GetProfileRequest) (*profilev1.Profile, error) {
	p, err := s.profiles.Get(ctx, req.GetUserId())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no profile for user %q", req.GetUserId())
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "read profile: %v", err)
	}
	return p, nil
}
