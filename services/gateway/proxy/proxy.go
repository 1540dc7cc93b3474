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
//
// Hot path: routes are resolved once, in NewRouter, into a table keyed by the full
// method name, so a call costs one map lookup rather than registry searches. The
// request is decoded (authorisation and validation need it typed) and re-encoded; the
// response is not: unless the Admitter asks to see it (see ResponseWatcher), the
// backend's reply is received into a message with no fields, which keeps every byte as
// unknown fields, and sent on as it came, so the gateway never builds, walks or
// re-encodes the response tree.
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
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/stratahq/strata/pkg/rpcerr"
)

// Admitter decides whether the caller of ctx may call method with req; it returns a
// gRPC status error when not. When it admits the call it returns the context to call
// with and a function the Router calls once with the outcome (auth.Guard records admin
// actions there).
type Admitter interface {
	Admit(ctx context.Context, method string, req proto.Message) (context.Context, func(resp proto.Message, err error), error)
}

// ResponseWatcher is implemented by an Admitter whose finish function needs the typed
// response of some methods (auth.Guard: to name what an audited admin write touched).
// For a method where NeedsResponse is false, finish receives the response as an
// opaque message, and the Router forwards the backend's bytes without decoding them.
// An Admitter that does not implement it gets every response typed.
type ResponseWatcher interface {
	NeedsResponse(method string) bool
}

// Router forwards calls by service name.
type Router struct {
	routes    map[string]*route // by full method name, "/pkg.Service/Method"
	services  map[protoreflect.FullName]bool
	admit     Admitter
	validator protovalidate.Validator
}

// route is what the Router needs to forward one method.
type route struct {
	conn   grpc.ClientConnInterface
	input  protoreflect.MessageType
	output protoreflect.MessageType
	// rawResponse: forward the backend's reply bytes without decoding them.
	rawResponse bool
	// streaming methods are routed only to answer that they are not forwarded.
	streaming bool
}

// NewRouter returns a router; routes maps full service names (such as
// "strata.profile.v1.ProfileService") to the connection of the service that owns them.
func NewRouter(routes map[string]grpc.ClientConnInterface, admit Admitter) (*Router, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("proxy: validator: %w", err)
	}
	watcher, _ := admit.(ResponseWatcher)
	r := &Router{routes: map[string]*route{}, services: map[protoreflect.FullName]bool{}, admit: admit, validator: v}
	for name, conn := range routes {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("proxy: service %s: %w", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("proxy: %s is not a service", name)
		}
		r.services[sd.FullName()] = true
		methods := sd.Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			fullMethod := "/" + string(sd.FullName()) + "/" + string(m.Name())
			rt := &route{conn: conn, streaming: m.IsStreamingClient() || m.IsStreamingServer()}
			if rt.input, err = messageType(m.Input()); err != nil {
				return nil, err
			}
			if rt.output, err = messageType(m.Output()); err != nil {
				return nil, err
			}
			rt.rawResponse = watcher != nil && !watcher.NeedsResponse(fullMethod)
			r.routes[fullMethod] = rt
		}
	}
	return r, nil
}

// Handle is a grpc.StreamHandler for grpc.UnknownServiceHandler.
func (r *Router) Handle(_ any, stream grpc.ServerStream) error {
	fullMethod, ok := grpc.MethodFromServerStream(stream)
	if !ok {
		return status.Error(codes.Internal, "proxy: no method in stream")
	}
	rt, err := r.route(fullMethod)
	if err != nil {
		return err
	}
	req := rt.input.New().Interface()
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	ctx, finish, err := r.admit.Admit(stream.Context(), fullMethod, req)
	if err != nil {
		return err
	}
	resp, err := r.forward(ctx, stream, rt, fullMethod, req)
	finish(resp, err)
	return err
}

// forward validates req and calls the owning service; it returns the response sent.
func (r *Router) forward(ctx context.Context, stream grpc.ServerStream, rt *route, fullMethod string, req proto.Message) (proto.Message, error) {
	if err := r.validator.Validate(req); err != nil {
		return nil, rpcerr.FromValidation(err)
	}
	var resp proto.Message
	if rt.rawResponse {
		// A message without fields keeps the whole reply as unknown fields and
		// marshals them back byte for byte.
		resp = &emptypb.Empty{}
	} else {
		resp = rt.output.New().Interface()
	}
	var header, trailer metadata.MD
	out := metadata.NewOutgoingContext(ctx, forwardable(ctx))
	callErr := rt.conn.Invoke(out, fullMethod, req, resp, grpc.Header(&header), grpc.Trailer(&trailer))
	if len(header) > 0 {
		_ = stream.SetHeader(header)
	}
	stream.SetTrailer(trailer)
	if callErr != nil {
		return nil, callErr
	}
	return resp, stream.SendMsg(resp)
}

// route resolves "/pkg.Service/Method" to a routed unary method.
func (r *Router) route(fullMethod string) (*route, error) {
	if rt, ok := r.routes[fullMethod]; ok {
		if rt.streaming {
			return nil, status.Errorf(codes.Unimplemented, "streaming method %s is not forwarded", fullMethod)
		}
		return rt, nil
	}
	svc, _, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok || r.services[protoreflect.FullName(svc)] {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	return nil, status.Errorf(codes.Unimplemented, "unknown service %s", svc)
}

func messageType(d protoreflect.MessageDescriptor) (protoreflect.MessageType, error) {
	t, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, fmt.Errorf("proxy: message type %s: %w", d.FullName(), err)
	}
	return t, nil
}

// forwardable is the incoming metadata minus credentials and transport headers.
func forwardable(ctx context.Context) metadata.MD {
	md, _ := metadata.FromIncomingContext(ctx) // a copy of its own: pruned in place
	for k := range md {
		switch {
		case k == "authorization", k == "traceparent", k == "tracestate", k == "baggage",
			k == "content-type", k == "user-agent", strings.HasPrefix(k, ":"), strings.HasPrefix(k, "grpc-"):
			delete(md, k)
		}
	}
	if md == nil {
		md = metadata.MD{}
	}
	return md
}
