// Package proxy forwards the public and admin APIs from the gateway to the services that
// own them, for every unary method of their contracts, without per-method code.
//
// The Router is the gateway gRPC server's unknown-service handler: it looks the called
// method up in the registered protobuf descriptors, decodes the request into its
// generated type, admits the caller (authentication, rate limit, and authorisation that
// sees the typed request, so rules such as "a client key reads only its own user" hold),
// validates the request (protovalidate), and invokes the same method on the owning
// service's connection. Callers are admitted before requests are validated, so one
// without a valid key learns nothing from validation errors. The backend's status —
// code, message and details — and its headers and trailers come back unchanged. The
// client's API key is not passed on. Streaming methods are not forwarded. A Router is
// safe for concurrent use.
package proxy

import (
	"context"
	"fmt"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/stratahq/strata/pkg/rpcerr"
)

// Admitter decides whether the caller of ctx may call method with req; it returns a
// gRPC status error when not. When it admits the call it returns the context to call
// with and a function the Router calls once with the outcome (auth.Guard records admin
// actions there).
type Admitter interface {
	Admit(ctx context.Context, method string, req proto.Message) (context.Context, func(resp proto.Message, err error), error)
}

// Router forwards calls by service name.
type Router struct {
	routes    map[protoreflect.FullName]grpc.ClientConnInterface
	admit     Admitter
	validator protovalidate.Validator
}

// NewRouter returns a router; routes maps full service names (such as
// "strata.profile.v1.ProfileService") to the connection of the service that owns them.
func NewRouter(routes map[string]grpc.ClientConnInterface, admit Admitter) (*Router, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("proxy: validator: %w", err)
	}
	r := &Router{routes: map[protoreflect.FullName]grpc.ClientConnInterface{}, admit: admit, validator: v}
	for name, conn := range routes {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("proxy: service %s: %w", name, err)
		}
		if _, ok := d.(protoreflect.ServiceDescriptor); !ok {
			return nil, fmt.Errorf("proxy: %s is not a service", name)
		}
		r.routes[protoreflect.FullName(name)] = conn
	}
	return r, nil
}

// Handle is a grpc.StreamHandler for grpc.UnknownServiceHandler.
func (r *Router) Handle(_ any, stream grpc.ServerStream) error {
	fullMethod, ok := grpc.MethodFromServerStream(stream)
	if !ok {
		return status.Error(codes.Internal, "proxy: no method in stream")
	}
	method, err := r.method(fullMethod)
	if err != nil {
		return err
	}
	conn := r.routes[method.Parent().FullName()]
	req, err := newMessage(method.Input())
	if err != nil {
		return err
	}
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	ctx, finish, err := r.admit.Admit(stream.Context(), fullMethod, req)
	if err != nil {
		return err
	}
	resp, err := r.forward(ctx, stream, conn, fullMethod, method, req)
	finish(resp, err)
	return err
}

// forward validates req and calls the owning service; it returns the response sent.
func (r *Router) forward(ctx context.Context, stream grpc.ServerStream, conn grpc.ClientConnInterface, fullMethod string,
	method protoreflect.MethodDescriptor, req proto.Message) (proto.Message, error) {
	if err := r.validator.Validate(req); err != nil {
		return nil, rpcerr.FromValidation(err)
	}
	resp, err := newMessage(method.Output())
	if err != nil {
		return nil, err
	}
	var header, trailer metadata.MD
	out := metadata.NewOutgoingContext(ctx, forwardable(ctx))
	callErr := conn.Invoke(out, fullMethod, req, resp, grpc.Header(&header), grpc.Trailer(&trailer))
	if len(header) > 0 {
		_ = stream.SetHeader(header)
	}
	stream.SetTrailer(trailer)
	if callErr != nil {
		return nil, callErr
	}
	return resp, stream.SendMsg(resp)
}

// method resolves "/pkg.Service/Method" to a routed unary method.
func (r *Router) method(fullMethod string) (protoreflect.MethodDescriptor, error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	if _, routed := r.routes[protoreflect.FullName(svc)]; !routed {
		return nil, status.Errorf(codes.Unimplemented, "unknown service %s", svc)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown service %s", svc)
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
	if m == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	if m.IsStreamingClient() || m.IsStreamingServer() {
		return nil, status.Errorf(codes.Unimplemented, "streaming method %s is not forwarded", fullMethod)
	}
	return m, nil
}

func newMessage(d protoreflect.MessageDescriptor) (proto.Message, error) {
	t, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "proxy: message type %s: %v", d.FullName(), err)
	}
	return t.New().Interface(), nil
}

// forwardable is the incoming metadata minus credentials and transport headers.
func forwardable(ctx context.Context) metadata.MD {
	in, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range in {
		switch {
		case k == "authorization", k == "traceparent", k == "tracestate", k == "baggage",
			k == "content-type", k == "user-agent", strings.HasPrefix(k, ":"), strings.HasPrefix(k, "grpc-"):
			continue
		}
		out[k] = v
	}
	return out
}
