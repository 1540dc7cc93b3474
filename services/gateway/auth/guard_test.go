package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/gateway/ratelimit"
)

// recorder is an audit log in memory.
type recorder struct {
	mu      sync.Mutex
	entries []*gatewayv1.AuditEntry
	err     error
}

func (r *recorder) AppendAudit(_ context.Context, e *gatewayv1.AuditEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.entries = append(r.entries, e)
	return nil
}

func (r *recorder) all() []*gatewayv1.AuditEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*gatewayv1.AuditEntry(nil), r.entries...)
}

type guardFixture struct {
	guard                         *Guard
	keys                          *Keys
	audit                         *recorder
	track, reader, admin, limited string // secrets
	revoked                       string
	adminKey                      *gatewayv1.Key
}

func newGuardFixture(t *testing.T) *guardFixture {
	t.Helper()
	k, _, _ := newTestKeys(t, DefaultCacheTTL)
	f := &guardFixture{keys: k, audit: &recorder{}}
	_, f.track = create(t, k, "track", "", gatewayv1.Scope_SCOPE_TRACK)
	_, f.reader = create(t, k, "reader", "u1", gatewayv1.Scope_SCOPE_READ_SELF)
	f.adminKey, f.admin = create(t, k, "admin", "", gatewayv1.Scope_SCOPE_ADMIN)
	limited, secret, err := k.Create(t.Context(), &gatewayv1.CreateKeyRequest{
		Name: "limited", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}, RatePerSecond: 0.01, RateBurst: 2,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	_ = limited
	f.limited = secret
	old, revoked := create(t, k, "old", "", gatewayv1.Scope_SCOPE_ADMIN)
	if err := k.Revoke(t.Context(), old.GetKeyId()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	f.revoked = revoked
	k.AddConfigured("ops", "configured-admin", gatewayv1.Scope_SCOPE_ADMIN)
	// Unlimited by default, so only the limited key's own bucket can run dry.
	f.guard = NewGuard(k, ratelimit.New(ratelimit.Limit{}), f.audit, nil)
	return f
}

func withAuth(ctx context.Context, values ...string) context.Context {
	md := metadata.MD{}
	for _, v := range values {
		md.Append("authorization", v)
	}
	return metadata.NewIncomingContext(ctx, md)
}

func TestGuardUnaryInterceptor(t *testing.T) {
	t.Parallel()
	f := newGuardFixture(t)
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
		{name: "not bearer", method: getProfile, auth: []string{"Basic " + f.reader}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "empty bearer", method: getProfile, auth: []string{"Bearer   "}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "unknown key", method: getProfile, auth: []string{"Bearer nope"}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.Unauthenticated},
		{name: "revoked key", method: adminOnly, auth: []string{"Bearer " + f.revoked}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.Unauthenticated},
		{name: "own profile", method: getProfile, auth: []string{"Bearer " + f.reader}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.OK, wantKeyName: "reader"},
		{name: "bearer trimmed", method: getProfile, auth: []string{"Bearer  " + f.reader + " "}, req: &profilev1.GetProfileRequest{UserId: "u1"}, wantCode: codes.OK, wantKeyName: "reader"},
		{name: "someone else's profile", method: getProfile, auth: []string{"Bearer " + f.reader}, req: &profilev1.GetProfileRequest{UserId: "u2"}, wantCode: codes.PermissionDenied},
		{name: "track key on admin method", method: adminOnly, auth: []string{"Bearer " + f.track}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.PermissionDenied},
		{name: "admin key on admin method", method: adminOnly, auth: []string{"Bearer " + f.admin}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.OK, wantKeyName: "admin"},
		{name: "configured key", method: adminOnly, auth: []string{"Bearer configured-admin"}, req: &gatewayv1.CreateKeyRequest{}, wantCode: codes.OK, wantKeyName: "ops"},
		{name: "health is public", method: "/grpc.health.v1.Health/Check", req: &healthpb.HealthCheckRequest{}, wantCode: codes.OK},
		{name: "health ignores a bad key", method: "/grpc.health.v1.Health/Check", auth: []string{"Bearer " + f.revoked}, req: &healthpb.HealthCheckRequest{}, wantCode: codes.OK},
		{name: "reflection is public", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", req: nil, wantCode: codes.OK},
		{name: "lookalike of a public prefix is not public", method: "/grpc.health.v1.HealthX/Check", req: &healthpb.HealthCheckRequest{}, wantCode: codes.Unauthenticated},
	}
	interceptor := f.guard.UnaryInterceptor()
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

func TestGuardRevokedMessage(t *testing.T) {
	t.Parallel()
	f := newGuardFixture(t)
	_, _, revoked := f.guard.Admit(withAuth(t.Context(), "Bearer "+f.revoked), adminOnly, &gatewayv1.CreateKeyRequest{})
	_, _, unknown := f.guard.Admit(withAuth(t.Context(), "Bearer nope"), adminOnly, &gatewayv1.CreateKeyRequest{})
	if status.Convert(revoked).Message() == status.Convert(unknown).Message() {
		t.Errorf("messages: got %q for both, want revoked keys told apart", status.Convert(revoked).Message())
	}
}

// failingAuthenticator fails every call with err.
type failingAuthenticator struct{ err error }

func (f failingAuthenticator) Authenticate(context.Context, string) (*gatewayv1.Key, error) {
	return nil, f.err
}

func TestGuardAuthenticatorErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want codes.Code
	}{
		{ErrUnknownKey, codes.Unauthenticated},
		{ErrRevoked, codes.Unauthenticated},
		{errors.New("store down"), codes.Unavailable},
	}
	for _, tt := range tests {
		g := NewGuard(failingAuthenticator{err: tt.err}, nil, nil, nil)
		_, _, err := g.Admit(withAuth(t.Context(), "Bearer x"), adminOnly, &gatewayv1.ListKeysRequest{})
		if got := status.Code(err); got != tt.want {
			t.Errorf("%v: got %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestGuardRateLimit(t *testing.T) {
	t.Parallel()
	f := newGuardFixture(t)
	ctx := withAuth(t.Context(), "Bearer "+f.limited)
	const method = "/strata.gateway.v1.KeyService/ListKeys"
	for i := range 2 {
		if _, _, err := f.guard.Admit(ctx, method, &gatewayv1.ListKeysRequest{}); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	_, _, err := f.guard.Admit(ctx, method, &gatewayv1.ListKeysRequest{})
	st := status.Convert(err)
	if got, want := st.Code(), codes.ResourceExhausted; got != want {
		t.Fatalf("call past the burst: got %v, want %v", got, want)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 || retry.GetRetryDelay().AsDuration() > 100*time.Second {
		t.Errorf("RetryInfo: got %v, want a delay in (0, 100s] (one token at 0.01/s)", retry)
	}
	// Other keys have buckets of their own, and configured keys are not metered.
	for _, secret := range []string{f.admin, "configured-admin"} {
		for range 5 {
			if _, _, err := f.guard.Admit(withAuth(t.Context(), "Bearer "+secret), method, &gatewayv1.ListKeysRequest{}); err != nil {
				t.Errorf("another key: got %v, want admitted", err)
			}
		}
	}
}

func TestGuardAudit(t *testing.T) {
	t.Parallel()
	f := newGuardFixture(t)
	admin := withAuth(t.Context(), "Bearer "+f.admin)
	track := withAuth(t.Context(), "Bearer "+f.track)
	const launch = "/strata.crm.v1.CRMService/LaunchCampaign"

	// An admin write that succeeds is recorded with its target.
	_, finish, err := f.guard.Admit(admin, launch, &crmv1.LaunchCampaignRequest{CampaignId: "c1"})
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	finish(nil, nil)
	// One that fails is recorded with its code.
	_, finish, err = f.guard.Admit(admin, launch, &crmv1.LaunchCampaignRequest{CampaignId: "c2"})
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	finish(nil, status.Error(codes.FailedPrecondition, "already launched"))
	// A denied attempt is recorded.
	if _, _, err := f.guard.Admit(track, launch, &crmv1.LaunchCampaignRequest{CampaignId: "c3"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("track key: got %v, want PermissionDenied", err)
	}
	// A create records the id of what it made, from the response.
	_, finish, err = f.guard.Admit(admin, adminOnly, &gatewayv1.CreateKeyRequest{Name: "n"})
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	finish(&gatewayv1.CreateKeyResponse{Key: &gatewayv1.Key{KeyId: "key_new"}, Secret: "sk_secret"}, nil)
	// Reads and client calls are not admin actions.
	for _, c := range []struct {
		ctx    context.Context
		method string
		req    proto.Message
	}{
		{admin, "/strata.gateway.v1.KeyService/ListKeys", &gatewayv1.ListKeysRequest{}},
		{admin, "/strata.crm.v1.CRMService/GetCampaign", &crmv1.GetCampaignRequest{CampaignId: "c1"}},
		{withAuth(t.Context(), "Bearer "+f.reader), "/strata.profile.v1.ProfileService/GetProfile", &profilev1.GetProfileRequest{UserId: "u1"}},
	} {
		_, finish, err := f.guard.Admit(c.ctx, c.method, c.req)
		if err != nil {
			t.Fatalf("Admit %s: %v", c.method, err)
		}
		finish(nil, nil)
	}

	want := []*gatewayv1.AuditEntry{
		{KeyId: f.adminKey.GetKeyId(), Method: launch, Target: "campaign_id=c1", Code: "OK"},
		{KeyId: f.adminKey.GetKeyId(), Method: launch, Target: "campaign_id=c2", Code: "FAILED_PRECONDITION", Message: "already launched"},
		{Method: launch, Target: "campaign_id=c3", Code: "PERMISSION_DENIED"},
		{KeyId: f.adminKey.GetKeyId(), Method: adminOnly, Target: "key.key_id=key_new", Code: "OK"},
	}
	got := f.audit.all()
	if len(got) != len(want) {
		t.Fatalf("entries: got %d (%v), want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if w.KeyId == "" {
			w.KeyId = g.GetKeyId() // the track key's id, checked non-empty below
		}
		if g.GetKeyId() == "" || g.GetKeyId() != w.GetKeyId() || g.GetMethod() != w.GetMethod() || g.GetTarget() != w.GetTarget() ||
			g.GetCode() != w.GetCode() || (w.Message != "" && g.GetMessage() != w.GetMessage()) || g.GetAt() == nil {
			t.Errorf("entry %d: got %v, want %v", i, g, w)
		}
	}
}

func TestGuardAuditFailureDoesNotFailTheCall(t *testing.T) {
	t.Parallel()
	f := newGuardFixture(t)
	f.audit.err = errors.New("audit store down")
	ctx, finish, err := f.guard.Admit(withAuth(t.Context(), "Bearer "+f.admin), "/strata.crm.v1.CRMService/LaunchCampaign", &crmv1.LaunchCampaignRequest{CampaignId: "c1"})
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	finish(nil, nil)
	if k, ok := KeyFrom(ctx); !ok || k.GetName() != "admin" {
		t.Errorf("KeyFrom: got %v, %v, want the admin key", k, ok)
	}
}

func TestAuditedMethod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		want   bool
	}{
		{"/strata.gateway.v1.KeyService/CreateKey", true},
		{"/strata.gateway.v1.KeyService/RevokeKey", true},
		{"/strata.gateway.v1.KeyService/ListKeys", false},
		{"/strata.gateway.v1.AuditService/ListAuditEntries", false},
		{"/strata.crm.v1.CRMService/LaunchCampaign", true},
		{"/strata.crm.v1.CRMService/GetCampaign", false},
		{"/strata.profile.v1.ProfileService/GetProfile", false}, // a client call
		{"/strata.ingest.v1.IngestService/Ingest", false},       // a client call
		{"/strata.nothing.v1.Nope/Do", true},                    // unknown: counted as a write
	}
	for _, tt := range tests {
		if got := auditedMethod(tt.method); got != tt.want {
			t.Errorf("auditedMethod(%s): got %v, want %v", tt.method, got, tt.want)
		}
	}
}

func TestNeedsResponse(t *testing.T) {
	t.Parallel()
	audited, unaudited := NewGuard(nil, nil, &recorder{}, nil), NewGuard(nil, nil, nil, nil)
	tests := []struct {
		name   string
		guard  *Guard
		method string
		want   bool
	}{
		{"admin write, audited", audited, "/strata.crm.v1.CRMService/LaunchCampaign", true},
		{"admin read", audited, "/strata.crm.v1.CRMService/GetCampaign", false},
		{"client call", audited, "/strata.recommendation.v1.RecommendationService/Recommend", false},
		{"admin write, no audit log", unaudited, "/strata.crm.v1.CRMService/LaunchCampaign", false},
	}
	for _, tt := range tests {
		if got := tt.guard.NeedsResponse(tt.method); got != tt.want {
			t.Errorf("%s: NeedsResponse(%s): got %v, want %v", tt.name, tt.method, got, tt.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, s := range []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK, gatewayv1.Scope_SCOPE_READ_SELF, gatewayv1.Scope_SCOPE_RECOMMEND, gatewayv1.Scope_SCOPE_ADMIN} {
		if got, ok := ParseScope(ScopeName(s)); !ok || got != s {
			t.Errorf("ParseScope(%q): got %v, %v, want %v", ScopeName(s), got, ok, s)
		}
	}
	if _, ok := ParseScope("root"); ok {
		t.Errorf("ParseScope(root): got ok, want not")
	}
}
