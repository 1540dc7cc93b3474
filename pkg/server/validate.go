package server

import (
	"context"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/rpcerr"
)

// validateUnary rejects requests that break their protovalidate rules with
// InvalidArgument and field violations, before the handler runs.
func validateUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := v.Validate(m); err != nil {
				return nil, rpcerr.FromValidation(err)
			}
		}
		return next(ctx, req)
	}
}
