package auth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/ratelimit"
)

// Rule says what a method needs: a scope, and for Self rules a key bound to the user the
// request names (unless the key is admin). Events rules apply to keys bound to a user
// (client apps): every event must name that user or no user (anonymous events), so a
// client cannot send events as someone else; unbound keys (server-side sources) may send
// events for any user.
type Rule struct {
	Scope  gatewayv1.Scope
	Self   bool
	Events bool
}

// Public methods need no key.
var publicPrefixes = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// Policy maps full gRPC method names to rules; methods not listed need the admin scope.
var Policy = map[string]Rule{
	"/strata.profile.v1.ProfileService/GetProfile":                 {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.prediction.v1.PredictionService/Predict":              {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.prediction.v1.PredictionService/Explain":              {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.prediction.v1.PredictionService/PredictCategories":    {Scope: gatewayv1.Scope_SCOPE_READ_SELF, Self: true},
	"/strata.recommendation.v1.RecommendationService/Recommend":    {Scope: gatewayv1.Scope_SCOPE_RECOMMEND, Self: true},
	"/strata.recommendation.v1.RecommendationService/SimilarItems": {Scope: gatewayv1.Scope_SCOPE_RECOMMEND},
	"/strata.recommendation.v1.RecommendationService/Popular":      {Scope: gatewayv1.Scope_SCOPE_RECOMMEND},
	"/strata.recommendation.v1.RecommendationService/Feedback":     {Scope: gatewayv1.Scope_SCOPE_RECOMMEND, Self: true},
	"/strata.ingest.v1.IngestService/Ingest":                       {Scope: gatewayv1.Scope_SCOPE_TRACK, Events: true},
	"/strata.ingest.v1.IngestService/IngestBatch":                  {Scope: gatewayv1.Scope_SCOPE_TRACK, Events: true},
}

type authenticator interface {
	Authenticate(ctx context.Context, secret string) (*gatewayv1.Key, error)
}

type auditAppender interface {
	AppendAudit(ctx context.Context, e *gatewayv1.AuditEntry) error
}

type keyCtx struct{}

// KeyFrom returns the authenticated key of the call.
func KeyFrom(ctx context.Context) (*gatewayv1.Key, bool) {
	k, ok := ctx.Value(keyCtx{}).(*gatewayv1.Key)
	return k, ok
}

// Guard admits calls: it authenticates the bearer key, charges its token bucket,
// authorises the method and records admin writes in the audit log.
type Guard struct {
	keys    authenticator
	limiter *ratelimit.Limiter
	audit   auditAppender
	log     *slog.Logger
	now     func() time.Time
}

// NewGuard returns a guard. limiter and audit may be nil (no rate limits, no audit).
func NewGuard(keys authenticator, limiter *ratelimit.Limiter, audit auditAppender, log *slog.Logger) *Guard {
	return &Guard{keys: keys, limiter: limiter, audit: audit, log: orDiscard(log), now: time.Now}
}

// Admit decides whether the caller of ctx may call method with req. When it may, Admit
// returns ctx carrying the caller's key (see KeyFrom) and a function the caller must
// call once with the call's outcome, which records admin writes; otherwise a gRPC
// status error: Unauthenticated, ResourceExhausted (with a RetryInfo detail) or
// PermissionDenied (recorded when the method is an admin write).
func (g *Guard) Admit(ctx context.Context, method string, req proto.Message) (context.Context, func(proto.Message, error), error) {
	if isPublic(method) {
		return ctx, func(proto.Message, error) {}, nil
	}
	key, err := authenticate(ctx, g.keys)
	if err != nil {
		return ctx, nil, err
	}
	if g.limiter != nil && !key.GetConfigured() {
		if ok, wait := g.limiter.Allow(key.GetKeyId(), ratelimit.Limit{PerSecond: key.GetRatePerSecond(), Burst: int(key.GetRateBurst())}); !ok {
			return ctx, nil, rateLimited(wait)
		}
	}
	audited := g.audit != nil && auditedMethod(method)
	if err := Authorize(key, method, req); err != nil {
		if audited {
			g.record(ctx, key, method, req, nil, err)
		}
		return ctx, nil, err
	}
	finish := func(proto.Message, error) {}
	if audited {
		finish = func(resp proto.Message, err error) { g.record(ctx, key, method, req, resp, err) }
	}
	return context.WithValue(ctx, keyCtx{}, key), finish, nil
}

// UnaryInterceptor admits every call to the gateway's own services.
func (g *Guard) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		m, _ := req.(proto.Message)
		ctx, finish, err := g.Admit(ctx, info.FullMethod, m)
		if err != nil {
			return nil, err
		}
		resp, err := next(ctx, req)
		out, _ := resp.(proto.Message)
		finish(out, err)
		return resp, err
	}
}

// record appends one audit entry. The action already happened, so a failure to record
// it is logged rather than returned; the write outlives a cancelled call.
func (g *Guard) record(ctx context.Context, key *gatewayv1.Key, method string, req, resp proto.Message, callErr error) {
	st := status.Convert(callErr)
	e := &gatewayv1.AuditEntry{
		At:      timestamppb.New(g.now().UTC().Truncate(time.Microsecond)),
		KeyId:   key.GetKeyId(),
		Method:  method,
		Target:  target(req, resp),
		Code:    codeName(st.Code()),
		Message: st.Message(),
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := g.audit.AppendAudit(ctx, e); err != nil {
		g.log.ErrorContext(ctx, "audit entry lost", "key_id", e.KeyId, "method", method, "code", e.Code, "err", err)
	}
}

func rateLimited(wait time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, "rate limit of this API key exceeded").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "rate limit of this API key exceeded")
	}
	return st.Err()
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
	var secret string
	// ValueFromIncomingContext reads the one key without copying the whole metadata.
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
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
	case errors.Is(err, ErrUnknownKey):
		return nil, status.Error(codes.Unauthenticated, "unknown API key")
	case err != nil:
		return nil, status.Error(codes.Unavailable, "API keys cannot be checked now, retry later")
	}
	return key, nil
}

type userScoped interface{ GetUserId() string }

// eventsOf returns the events a request carries.
func eventsOf(req any) []*eventv1.Event {
	switch r := req.(type) {
	case interface{ GetEvents() []*eventv1.Event }:
		return r.GetEvents()
	case interface{ GetEvent() *eventv1.Event }:
		return []*eventv1.Event{r.GetEvent()}
	}
	return nil
}

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
	if rule.Events && key.GetUserId() != "" {
		for _, e := range eventsOf(req) {
			if u := e.GetUserId(); u != "" && u != key.GetUserId() {
				return status.Error(codes.PermissionDenied, "this key sends events only for the user it is bound to")
			}
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

// ParseScope is the inverse of ScopeName.
func ParseScope(name string) (gatewayv1.Scope, bool) {
	for _, s := range []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK, gatewayv1.Scope_SCOPE_READ_SELF, gatewayv1.Scope_SCOPE_RECOMMEND, gatewayv1.Scope_SCOPE_ADMIN} {
		if ScopeName(s) == name {
			return s, true
		}
	}
	return gatewayv1.Scope_SCOPE_UNSPECIFIED, false
}

// NeedsResponse reports whether the finish function Admit returns for method looks at
// the call's response: it does for audited admin writes (the audit entry names what
// the write created), so proxy.Router decodes those responses and forwards the others'
// bytes untouched.
func (g *Guard) NeedsResponse(method string) bool {
	return g.audit != nil && auditedMethod(method)
}
