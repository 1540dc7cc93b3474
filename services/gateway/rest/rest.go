// Package rest is the gateway's HTTP front: REST/JSON for every gRPC API (grpc-gateway,
// calling the gateway's own gRPC server so authorisation runs once, in one place), the
// Segment HTTP API forwarded to ingest, and the OpenAPI document.
//
// Errors follow one model: a google.rpc.Status as JSON ({"code", "message", "details"}
// with field violations), with gRPC codes mapped to HTTP statuses by grpc-gateway
// (InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound 404,
// ResourceExhausted 429, Unavailable 503, …). A status carrying a google.rpc.RetryInfo
// (rate limits) also sets Retry-After in whole seconds, rounded up; a 401 carries
// WWW-Authenticate: Bearer.
package rest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/stratahq/strata/proto/openapi"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// NewAPI returns the REST/JSON handler for every API, calling conn (the gateway's own
// gRPC server).
func NewAPI(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithErrorHandler(errorHandler),
	)
	for name, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		"ingest":         ingestv1.RegisterIngestServiceHandler,
		"profile":        profilev1.RegisterProfileServiceHandler,
		"prediction":     predictionv1.RegisterPredictionServiceHandler,
		"recommendation": recommendationv1.RegisterRecommendationServiceHandler,
		"crm":            crmv1.RegisterCRMServiceHandler,
		"keys":           gatewayv1.RegisterKeyServiceHandler,
		"audit":          gatewayv1.RegisterAuditServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			return nil, fmt.Errorf("rest: register %s: %w", name, err)
		}
	}
	return mux, nil
}

// errorHandler is grpc-gateway's default error rendering plus the headers HTTP clients
// act on: Retry-After and WWW-Authenticate.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(max(1, secs), 10))
		}
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// NewSegmentProxy forwards the Segment HTTP API (/v1/...) to ingest, keeping the write
// key and propagating the trace context.
func NewSegmentProxy(ingestURL string) (http.Handler, error) {
	target, err := url.Parse(ingestURL)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("rest: ingest URL %q must be absolute (http://host:port)", ingestURL)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: otelhttp.NewTransport(http.DefaultTransport),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"success":false,"error":{"code":"unavailable","message":"ingest unavailable, retry later"}}`))
		},
	}, nil
}

// OpenAPI serves the OpenAPI document.
func OpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Spec)
	})
}
