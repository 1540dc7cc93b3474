package auth

import (
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

const adminOnly = "/strata.gateway.v1.KeyService/CreateKey"

// requests builds, for each method, a request naming user (where the method has one).
var testRequests = map[string]func(user string) any{
	"/strata.profile.v1.ProfileService/GetProfile": func(u string) any { return &profilev1.GetProfileRequest{UserId: u} },
	"/strata.prediction.v1.PredictionService/Predict": func(u string) any {
		return &predictionv1.PredictRequest{UserId: u}
	},
	"/strata.prediction.v1.PredictionService/Explain": func(u string) any {
		return &predictionv1.ExplainRequest{UserId: u}
	},
	"/strata.recommendation.v1.RecommendationService/Recommend": func(u string) any {
		return &recommendationv1.RecommendRequest{UserId: u}
	},
	"/strata.recommendation.v1.RecommendationService/SimilarItems": func(string) any {
		return &recommendationv1.SimilarItemsRequest{ItemId: "c1"}
	},
	"/strata.recommendation.v1.RecommendationService/Popular": func(string) any { return &recommendationv1.PopularRequest{} },
	"/strata.ingest.v1.IngestService/Ingest": func(u string) any {
		return &ingestv1.IngestRequest{Event: &eventv1.Event{UserId: u}}
	},
	"/strata.ingest.v1.IngestService/IngestBatch": func(u string) any {
		return &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{{UserId: u}}}
	},
	adminOnly: func(u string) any { return &gatewayv1.CreateKeyRequest{Name: "k", UserId: u} },
}

var testKeys = map[string]*gatewayv1.Key{
	"track":     {KeyId: "k-track", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}},
	"read:self": {KeyId: "k-read", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF}, UserId: "u1"},
	"recommend": {KeyId: "k-rec", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_RECOMMEND}, UserId: "u1"},
	"admin":     {KeyId: "k-admin", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}},
	// A read:self key bound to nobody reads nobody.
	"read:self unbound": {KeyId: "k-unbound", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF}},
	"no scopes":         {KeyId: "k-none", UserId: "u1"},
}

const (
	allow = codes.OK
	deny  = codes.PermissionDenied
)

func TestAuthorizeMatrix(t *testing.T) {
	t.Parallel()
	// want[key] is the code for a request naming u1 and for one naming u2.
	type row = map[string][2]codes.Code
	selfRead := row{
		"track": {deny, deny}, "read:self": {allow, deny}, "recommend": {deny, deny}, "admin": {allow, allow},
		"read:self unbound": {deny, deny}, "no scopes": {deny, deny},
	}
	selfRecommend := row{
		"track": {deny, deny}, "read:self": {deny, deny}, "recommend": {allow, deny}, "admin": {allow, allow},
		"read:self unbound": {deny, deny}, "no scopes": {deny, deny},
	}
	anyRecommend := row{
		"track": {deny, deny}, "read:self": {deny, deny}, "recommend": {allow, allow}, "admin": {allow, allow},
		"read:self unbound": {deny, deny}, "no scopes": {deny, deny},
	}
	track := row{
		"track": {allow, allow}, "read:self": {deny, deny}, "recommend": {deny, deny}, "admin": {allow, allow},
		"read:self unbound": {deny, deny}, "no scopes": {deny, deny},
	}
	admin := row{
		"track": {deny, deny}, "read:self": {deny, deny}, "recommend": {deny, deny}, "admin": {allow, allow},
		"read:self unbound": {deny, deny}, "no scopes": {deny, deny},
	}
	tests := []struct {
		method string
		want   row
	}{
		{"/strata.profile.v1.ProfileService/GetProfile", selfRead},
		{"/strata.prediction.v1.PredictionService/Predict", selfRead},
		{"/strata.prediction.v1.PredictionService/Explain", selfRead},
		{"/strata.recommendation.v1.RecommendationService/Recommend", selfRecommend},
		{"/strata.recommendation.v1.RecommendationService/SimilarItems", anyRecommend},
		{"/strata.recommendation.v1.RecommendationService/Popular", anyRecommend},
		{"/strata.ingest.v1.IngestService/Ingest", track},
		{"/strata.ingest.v1.IngestService/IngestBatch", track},
		{adminOnly, admin},
		{"/strata.crm.v1.CRMService/Unknown", admin},
	}

	// Every method in Policy is in the matrix, so a new rule cannot go untested.
	var covered []string
	for _, tt := range tests {
		covered = append(covered, tt.method)
	}
	for method := range Policy {
		if !slices.Contains(covered, method) {
			t.Errorf("Policy method %s: got no row in the matrix, want one", method)
		}
	}

	for _, tt := range tests {
		for keyName, codesByUser := range tt.want {
			for i, user := range []string{"u1", "u2"} {
				t.Run(tt.method+"/"+keyName+"/"+user, func(t *testing.T) {
					t.Parallel()
					build, found := testRequests[tt.method]
					if !found {
						build = func(string) any { return &gatewayv1.ListKeysRequest{} }
					}
					err := Authorize(testKeys[keyName], tt.method, build(user))
					if got, want := status.Code(err), codesByUser[i]; got != want {
						t.Errorf("got %v, want %v (%v)", got, want, err)
					}
				})
			}
		}
	}
}

func TestAuthorizeSelfNeedsUserScopedRequest(t *testing.T) {
	t.Parallel()
	// A Self rule with a request that names no user is denied, not waved through.
	err := Authorize(testKeys["read:self"], "/strata.profile.v1.ProfileService/GetProfile", &gatewayv1.ListKeysRequest{})
	if got, want := status.Code(err), codes.PermissionDenied; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if err := Authorize(nil, adminOnly, &gatewayv1.CreateKeyRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("nil key: got %v, want %v", status.Code(err), codes.PermissionDenied)
	}
}

func TestScopeName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    gatewayv1.Scope
		want string
	}{
		{gatewayv1.Scope_SCOPE_TRACK, "track"},
		{gatewayv1.Scope_SCOPE_READ_SELF, "read:self"},
		{gatewayv1.Scope_SCOPE_RECOMMEND, "recommend"},
		{gatewayv1.Scope_SCOPE_ADMIN, "admin"},
		{gatewayv1.Scope_SCOPE_UNSPECIFIED, "SCOPE_UNSPECIFIED"},
	}
	for _, tt := range tests {
		if got := ScopeName(tt.s); got != tt.want {
			t.Errorf("ScopeName(%v): got %q, want %q", tt.s, got, tt.want)
		}
	}
}

// interceptorStore holds one key per scope plus a revoked one.
func interceptorStore(t *testing.T) *Store {
	t.Helper()
	s := newTestStore()
	s.Add("track", "track-secret", "", gatewayv1.Scope_SCOPE_TRACK)
	s.Add("reader", "read-secret", "u1", gatewayv1.Scope_SCOPE_READ_SELF)
	s.Add("admin", "admin-secret", "", gatewayv1.Scope_SCOPE_ADMIN)
	revoked := s.Add("old", "revoked", "", gatewayv1.Scope_SCOPE_ADMIN)
	if err := s.Revoke(revoked.GetKeyId()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	return s
}

func withAuth(ctx context.Context, values ...string) context.Context {
	md := metadata.MD{}
	for _, v := range values {
		md.Append("authorization", v)
	}
	return metadata.NewIncomingContext(ctx, md)
}

func TestUnaryInterceptor(t *testing.T) {
	t.Parallel()
	const getProfile = "/strata.profile.v1.ProfileService/GetProfile"
	tests := []struct {
		name        string
		method      string
		auth        []string // authorization header values; nil sends no metadata at all
		req         any
		wantCode    codes.Code
		wantKeyName string // the key the handler sees; "" for a public call
	}{
		{name: "missing header", method: getProfile, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "empty metadata", method: getProfile, auth: []string{}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "not bearer", method: getProfile, auth: []string{"Basic read-secret"}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "empty bearer", method: getProfile, auth: []string{"Bearer   "}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "unknown key", method: getProfile, auth: []string{"Bearer nope"}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "revoked key", method: adminOnly, auth: []string{"Bearer revoked"}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.Unauthenticated},
		{name: "own profile", method: getProfile, auth: []string{"Bearer read-secret"}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.OK, wantKeyName: "reader"},
		{name: "bearer trimmed", method: getProfile, auth: []string{"Bearer  read-secret "}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.OK, wantKeyName: "reader"},
		{name: "someone else's profile", method: getProfile, auth: []string{"Bearer read-secret"}, req: &profilev1.GetProfileRequest{UserId: "u2"}, wantCode: codes.PermissionDenied},
		{name: "track key on admin method", method: adminOnly, auth: []string{"Bearer track-secret"}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.PermissionDenied},
		{name: "admin key on admin method", method: adminOnly, auth: []string{"Bearer admin-secret"}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.OK, wantKeyName: "admin"},
		{name: "health is public", method: "/grpc.health.v1.Health/Check", req: &healthpb.HealthCheckRequest{}, wantCode: codes.OK},
		{name: "health ignores a bad key", method: "/grpc.health.v1.Health/Check", auth: []string{"Bearer revoked"}, req: &healthpb.HealthCheckRequest{}, wantCode: codes.OK},
		{name: "reflection is public", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", req: nil, wantCode: codes.OK},
		{name: "lookalike of a public prefix is not public", method: "/grpc.health.v1.HealthX/Check", req: &healthpb.HealthCheckRequest{}, wantCode: codes.Unauthenticated},
	}
	interceptor := UnaryInterceptor(interceptorStore(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.auth != nil {
				ctx = withAuth(ctx, tt.auth...)
			}
			called := false
			var seen *gatewayv1.Key
			handler := func(ctx context.Context, req any) (any, error) {
				called = true
				seen, _ = KeyFrom(ctx)
				return "response", nil
			}
			resp, err := interceptor(ctx, tt.req, &grpc.UnaryServerInfo{FullMethod: tt.method}, handler)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
			if got, want := called, tt.wantCode == codes.OK; got != want {
				t.Errorf("handler called: got %v, want %v", got, want)
			}
			if tt.wantCode != codes.OK {
				if resp != nil {
					t.Errorf("response: got %v, want nil", resp)
				}
				return
			}
			if got, want := resp, any("response"); got != want {
				t.Errorf("response: got %v, want %v", got, want)
			}
			if got := seen.GetName(); got != tt.wantKeyName {
				t.Errorf("KeyFrom in handler: got key %q, want %q", got, tt.wantKeyName)
			}
		})
	}
}

func TestUnaryInterceptorRevokedMessage(t *testing.T) {
	t.Parallel()
	interceptor := UnaryInterceptor(interceptorStore(t))
	handler := func(context.Context, any) (any, error) { return nil, nil }
	info := &grpc.UnaryServerInfo{FullMethod: adminOnly}
	_, revoked := interceptor(withAuth(t.Context(), "Bearer revoked"), &gatewayv1.CreateKeyRequest{}, info, handler)
	_, unknown := interceptor(withAuth(t.Context(), "Bearer nope"), &gatewayv1.CreateKeyRequest{}, info, handler)
	if status.Convert(revoked).Message() == status.Convert(unknown).Message() {
		t.Errorf("messages: got %q for both, want revoked keys told apart", status.Convert(revoked).Message())
	}
}

// failingAuthenticator fails every call with err.
type failingAuthenticator struct{ err error }

func (f failingAuthenticator) Authenticate(context.Context, string) (*gatewayv1.Key, error) {
	return nil, f.err
}

func TestUnaryInterceptorAuthenticatorError(t *testing.T) {
	t.Parallel()
	interceptor := UnaryInterceptor(failingAuthenticator{err: errors.New("store down")})
	_, err := interceptor(withAuth(t.Context(), "Bearer x"), &gatewayv1.ListKeysRequest{}, &grpc.UnaryServerInfo{FullMethod: adminOnly},
		func(context.Context, any) (any, error) {
			t.Errorf("handler: got called, want not")
			return nil, nil
		})
	if got, want := status.Code(err), codes.Unauthenticated; got != want {
		t.Errorf("code: got %v, want %v", got, want)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	const getProfile = "/strata.profile.v1.ProfileService/GetProfile"
	tests := []struct {
		name     string
		auth     []string
		user     string
		wantCode codes.Code
	}{
		{name: "missing key", user: "u1", wantCode: codes.Unauthenticated},
		{name: "revoked key", auth: []string{"Bearer revoked"}, user: "u1", wantCode: codes.Unauthenticated},
		{name: "unknown key", auth: []string{"Bearer nope"}, user: "u1", wantCode: codes.Unauthenticated},
		{name: "track key cannot read", auth: []string{"Bearer track-secret"}, user: "u1", wantCode: codes.PermissionDenied},
		{name: "reader reads its user", auth: []string{"Bearer read-secret"}, user: "u1", wantCode: codes.OK},
		{name: "reader cannot read another user", auth: []string{"Bearer read-secret"}, user: "u2", wantCode: codes.PermissionDenied},
		{name: "admin reads anyone", auth: []string{"Bearer admin-secret"}, user: "u2", wantCode: codes.OK},
	}
	check := Check(interceptorStore(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.auth != nil {
				ctx = withAuth(ctx, tt.auth...)
			}
			err := check(ctx, getProfile, &profilev1.GetProfileRequest{UserId: tt.user})
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code: got %v, want %v (%v)", got, tt.wantCode, err)
			}
		})
	}
}

func TestKeyFromEmptyContext(t *testing.T) {
	t.Parallel()
	if k, found := KeyFrom(t.Context()); found || k != nil {
		t.Errorf("KeyFrom: got %v, %v, want nil, false", k, found)
	}
}
