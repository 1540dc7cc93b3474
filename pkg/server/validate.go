package server

import (
	"context"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/stratahq/strata/pkg/rpcerr"
)

// validateUnary rejects requests that break their protovalidate rules with
// InvalidArgument and field violations, before the handler runs.
func validateUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := v.Validate(m, skipFreeForm); err != nil {
				return nil, rpcerr.FromValidation(err)
			}
		}
		return next(ctx, req)
	}
}

// skipFreeForm keeps the validator out of google.protobuf.Struct, Value and ListValue
// fields (event properties, context, traits). Those types carry no rules, so the
// result is the same, but walking them was a sixth of ingest's gRPC CPU.
var skipFreeForm = protovalidate.WithFilter(protovalidate.FilterFunc(
	func(_ protoreflect.Message, d protoreflect.Descriptor) bool {
		f, ok := d.(protoreflect.FieldDescriptor)
		if !ok || f.Message() == nil {
			return true
		}
		switch f.Message().FullName() {
		case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
			return false
		}
		return true
	}))
