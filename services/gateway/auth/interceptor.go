package auth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
)

// Rule says what a method needs: a scope, and for Self rules a key bound to the user the
// request names (unless the key is admin).
type Rule struct {
	Scope gatewayv1.Scope
	Self  bool
}

// Public methods need no key.
var publicPrefixes = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// Policy maps full gRPC method names to rules; methods not listed need the admin scope.
var Policy = map[string]Rule{
	"/strata.profile.v1.ProfileService/GetProfile":                 {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.prediction.v1.PredictionService/Predict":              {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.prediction.v1.PredictionService/Explain":              {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.recommendation.v1.RecommendationService/Recommend":    {Scope: gatewayv1.Scope_SCOPE_RECOMMEND, Self: true},
	"/strata.recommendation.v1.RecommendationService/SimilarItems": {Scope: gatewayv1.Scope_SCOPE_RECOMMEND},
	"/strata.recommendation.v1.RecommendationService/Popular":      {Scope: gatewayv1.Scope_SCOPE_RECOMMEND},
	"/strata.ingest.v1.IngestService/Ingest":                       {Scope: gatewayv1.Scope_SCOPE_TRACK},
	"/strata.ingest.v1.IngestService/IngestBatch":                  {Scope: gatewayv1.Scope_SCOPE_TRACK},
}

type authenticator interface {
	Authenticate(ctx context.Context, secret string) (*gatewayv1.Key, error)
}

type keyCtx struct{}

// KeyFrom returns the authenticated key of the call.
func KeyFrom(ctx context.Context) (*gatewayv1.Key, bool) {
	k, ok := ctx.Value(keyCtx{}).(*gatewayv1.Key)
	return k, ok
}

// UnaryInterceptor authenticates the bearer key of every call and applies Policy.
func UnaryInterceptor(a authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if isPublic(info.FullMethod) {
			return next(ctx, req)
		}
		key, err := authenticate(ctx, a)
		if err != nil {
			return nil, err
		}
		if err := Authorize(key, info.FullMethod, req); err != nil {
			return nil, err
		}
		return next(context.WithValue(ctx, keyCtx{}, key), req)
	}
}

// Check authenticates the caller of ctx and authorises method with req; the gateway's
// forwarding router calls it for every forwarded call.
func Check(a authenticator) func(ctx context.Context, method string, req proto.Message) error {
	return func(ctx context.Context, method string, req proto.Message) error {
		key, err := authenticate(ctx, a)
		if err != nil {
			return err
		}
		return Authorize(key, method, req)
	}
}

func isPublic(method string) bool {
	for _, p := range publicPrefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

func authenticate(ctx context.Context, a authenticator) (*gatewayv1.Key, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var secret string
	for _, v := range md.Get("authorization") {
		if s, ok := strings.CutPrefix(v, "Bearer "); ok {
			secret = strings.TrimSpace(s)
		}
	}
	if secret == "" {
		return nil, status.Error(codes.Unauthenticated, "missing API key: send Authorization: Bearer <key>")
	}
	key, err := a.Authenticate(ctx, secret)
	switch {
	case errors.Is(err, ErrRevoked):
		return nil, status.Error(codes.Unauthenticated, "API key revoked")
	case err != nil:
		return nil, status.Error(codes.Unauthenticated, "unknown API key")
	}
	return key, nil
}

type userScoped interface{ GetUserId() string }

// Authorize decides whether key may call method with req.
func Authorize(key *gatewayv1.Key, method string, req any) error {
	if slices.Contains(key.GetScopes(), gatewayv1.Scope_SCOPE_ADMIN) {
		return nil
	}
	rule, ok := Policy[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s needs the admin scope", method)
	}
	if !slices.Contains(key.GetScopes(), rule.Scope) {
		return status.Errorf(codes.PermissionDenied, "%s needs the %s scope", method, ScopeName(rule.Scope))
	}
	if rule.Self {
		r, ok := req.(userScoped)
		if !ok || key.GetUserId() == "" || r.GetUserId() != key.GetUserId() {
			return status.Error(codes.PermissionDenied, "this key reads only the user it is bound to")
		}
	}
	return nil
}

// ScopeName is the scope as users write it: track, read:self, recommend, admin.
func ScopeName(s gatewayv1.Scope) string {
	switch s {
	case gatewayv1.Scope_SCOPE_TRACK:
		return "track"
	case gatewayv1.Scope_SCOPE_READ_SELF:
		return "read:self"
	case gatewayv1.Scope_SCOPE_RECOMMEND:
		return "recommend"
	case gatewayv1.Scope_SCOPE_ADMIN:
		return "admin"
	default:
		return s.String()
	}
}
