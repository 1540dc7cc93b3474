package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/gatewaytest"
	"github.com/stratahq/strata/services/gateway/keystore"
)

const (
	configuredAdmin = "test-admin-secret"
	webOrigin       = "https://app.example.com"
)

// backend stands in for every service behind the gateway: it answers any unary method
// with an empty response and counts the calls that reached it.
type backend struct {
	addr  string
	calls atomic.Int64
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		b.calls.Add(1)
		if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		return stream.SendMsg(&emptypb.Empty{})
	}))
	h := health.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	b.addr = lis.Addr().String()
	return b
}

// suite is a running gateway in front of one fake backend.
type suite struct {
	backend *backend
	conn    *grpc.ClientConn
	http    string // base URL
	segment atomic.Int64
}

func start(t *testing.T, tweak func(*gateway.Config)) *suite {
	t.Helper()
	s := &suite{backend: startBackend(t)}
	ingestHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.segment.Add(1)
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	t.Cleanup(ingestHTTP.Close)

	cfg := gateway.DefaultConfig()
	cfg.IngestURL = ingestHTTP.URL
	cfg.IngestAddr, cfg.ProfileAddr, cfg.PredictionAddr = s.backend.addr, s.backend.addr, s.backend.addr
	cfg.RecommendationAddr, cfg.CRMAddr = s.backend.addr, s.backend.addr
	cfg.AdminKeys = []string{configuredAdmin}
	cfg.CORSOrigins = []string{webOrigin}
	if tweak != nil {
		tweak(&cfg)
	}
	gw := gatewaytest.Start(t, cfg)
	s.http = gw.HTTP
	var err error
	s.conn, err = grpc.NewClient(gw.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.conn.Close() })
	return s
}

func bearer(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// createKey creates a key through the admin API and returns its id and secret.
func (s *suite) createKey(t *testing.T, req *gatewayv1.CreateKeyRequest) (string, string) {
	t.Helper()
	resp, err := gatewayv1.NewKeyServiceClient(s.conn).CreateKey(bearer(t.Context(), configuredAdmin), req)
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", req.GetName(), err)
	}
	return resp.GetKey().GetKeyId(), resp.GetSecret()
}

// endpoint is one unary method of the suite's contracts.
type endpoint struct {
	name   string // full method, /pkg.Service/Method
	method protoreflect.MethodDescriptor
}

// endpoints lists every unary method of every strata service linked into the gateway,
// from the registered descriptors: a method added to any contract joins the matrix
// without a change here.
func endpoints(t *testing.T) []endpoint {
	t.Helper()
	var out []endpoint
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "strata.") {
			return true
		}
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				m := sd.Methods().Get(j)
				if m.IsStreamingClient() || m.IsStreamingServer() {
					continue // not forwarded by the gateway
				}
				out = append(out, endpoint{name: "/" + string(sd.FullName()) + "/" + string(m.Name()), method: m})
			}
		}
		return true
	})
	slices.SortFunc(out, func(a, b endpoint) int { return strings.Compare(a.name, b.name) })
	if len(out) < 40 {
		t.Fatalf("endpoints: got %d, want the whole suite's API (at least 40)", len(out))
	}
	return out
}

// request builds an empty request of m's input type naming user where it has a user_id.
func request(t *testing.T, m protoreflect.MethodDescriptor, user string) (proto.Message, proto.Message) {
	t.Helper()
	in, err := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
	if err != nil {
		t.Fatalf("%s: %v", m.Input().FullName(), err)
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	if err != nil {
		t.Fatalf("%s: %v", m.Output().FullName(), err)
	}
	req := in.New()
	if f := req.Descriptor().Fields().ByName("user_id"); f != nil && f.Kind() == protoreflect.StringKind && !f.IsList() {
		req.Set(f, protoreflect.ValueOfString(user))
	}
	return req.Interface(), out.New().Interface()
}

// publicRule is the scope a public method needs and whether a key reads only its bound
// user there.
type publicRule struct {
	scope string
	self  bool
}

// publicAPI is what non-admin keys may call: the scope each method needs and whether a
// key reads only its bound user there. Every other method is admin-only. It is written
// out rather than read from auth.Policy, so that widening the policy fails this test
// until the matrix is widened too.
var publicAPI = map[string]publicRule{
	"/strata.profile.v1.ProfileService/GetProfile":                 {"read:self", true},
	"/strata.prediction.v1.PredictionService/Predict":              {"read:self", true},
	"/strata.prediction.v1.PredictionService/Explain":              {"read:self", true},
	"/strata.prediction.v1.PredictionService/PredictCategories":    {"read:self", true},
	"/strata.recommendation.v1.RecommendationService/Recommend":    {"recommend", true},
	"/strata.recommendation.v1.RecommendationService/SimilarItems": {"recommend", false},
	"/strata.recommendation.v1.RecommendationService/Popular":      {"recommend", false},
	"/strata.recommendation.v1.RecommendationService/Feedback":     {"recommend", true},
	"/strata.ingest.v1.IngestService/Ingest":                       {"track", false},
	"/strata.ingest.v1.IngestService/IngestBatch":                  {"track", false},
}

// users are the users to name in requests: the keys' own, and another where a key
// reads only its own.
func (r publicRule) users() []string {
	if r.self {
		return []string{"u1", "u2"}
	}
	return []string{"u1"}
}

// scopeKeys creates one key per scope through the admin API and returns their secrets
// by scope name; read:self and recommend keys are bound to u1.
func (s *suite) scopeKeys(t *testing.T) map[string]string {
	t.Helper()
	secrets := map[string]string{}
	for name, scope := range map[string]gatewayv1.Scope{
		"track": gatewayv1.Scope_SCOPE_TRACK, "read:self": gatewayv1.Scope_SCOPE_READ_SELF,
		"recommend": gatewayv1.Scope_SCOPE_RECOMMEND, "admin": gatewayv1.Scope_SCOPE_ADMIN,
	} {
		user := "u1"
		if scope == gatewayv1.Scope_SCOPE_TRACK || scope == gatewayv1.Scope_SCOPE_ADMIN {
			user = ""
		}
		_, secrets[name] = s.createKey(t, &gatewayv1.CreateKeyRequest{Name: name, UserId: user, Scopes: []gatewayv1.Scope{scope}})
	}
	return secrets
}

// denied is how the gateway refuses a caller; any other outcome (OK, or an error of the
// service or of validation) means the call was admitted.
var denied = []codes.Code{codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted}

// TestAuthorizationMatrix calls every endpoint with a key of every scope, for the key's
// own user and for another, and with missing, wrong and revoked keys.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *gateway.Config) { c.RateLimit = 0 }) // unlimited: the matrix is about scopes
	secrets := s.scopeKeys(t)
	revokedID, revoked := s.createKey(t, &gatewayv1.CreateKeyRequest{Name: "revoked", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}})
	if _, err := gatewayv1.NewKeyServiceClient(s.conn).RevokeKey(bearer(t.Context(), configuredAdmin), &gatewayv1.RevokeKeyRequest{KeyId: revokedID}); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}

	eps := endpoints(t)
	for name := range publicAPI {
		if !slices.ContainsFunc(eps, func(e endpoint) bool { return e.name == name }) {
			t.Errorf("public method %s: got no such endpoint in the contracts, want one", name)
		}
	}
	for _, ep := range eps {
		rule, public := publicAPI[ep.name]
		for scope, secret := range secrets {
			for _, user := range rule.users() {
				want := scope == "admin" || (public && rule.scope == scope && (!rule.self || user == "u1"))
				req, resp := request(t, ep.method, user)
				err := s.conn.Invoke(bearer(t.Context(), secret), ep.name, req, resp)
				code := status.Code(err)
				if got := !slices.Contains(denied, code); got != want {
					t.Errorf("%s with a %s key for %s: got admitted=%v (%v), want %v", ep.name, scope, user, got, err, want)
				}
				if !want && code != codes.PermissionDenied {
					t.Errorf("%s with a %s key for %s: got %v, want PermissionDenied", ep.name, scope, user, code)
				}
			}
		}
		for name, secret := range map[string]string{"no": "", "a wrong": "sk_wrong", "a revoked": revoked} {
			req, resp := request(t, ep.method, "u1")
			err := s.conn.Invoke(bearer(t.Context(), secret), ep.name, req, resp)
			if got := status.Code(err); got != codes.Unauthenticated {
				t.Errorf("%s with %s key: got %v, want Unauthenticated", ep.name, name, got)
			}
		}
	}
}

// restRoute is the REST mapping of m with its path parameters filled: user_id with
// user, other parameters with a value their type accepts. ok is false when m has none.
func restRoute(t *testing.T, m protoreflect.MethodDescriptor, user string) (method, path string, ok bool) {
	t.Helper()
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	switch {
	case rule == nil:
		return "", "", false
	case rule.GetGet() != "":
		method, path = http.MethodGet, rule.GetGet()
	case rule.GetPost() != "":
		method, path = http.MethodPost, rule.GetPost()
	case rule.GetPut() != "":
		method, path = http.MethodPut, rule.GetPut()
	case rule.GetPatch() != "":
		method, path = http.MethodPatch, rule.GetPatch()
	case rule.GetDelete() != "":
		method, path = http.MethodDelete, rule.GetDelete()
	default:
		t.Fatalf("%s: unsupported HTTP rule %v", m.FullName(), rule)
	}
	path = pathParam.ReplaceAllStringFunc(path, func(p string) string {
		name := strings.Trim(p, "{}")
		msg := m.Input()
		var f protoreflect.FieldDescriptor
		for part := range strings.SplitSeq(name, ".") {
			if f != nil {
				msg = f.Message()
			}
			if f = msg.Fields().ByName(protoreflect.Name(part)); f == nil {
				t.Fatalf("%s: path parameter %s names no field", m.FullName(), name)
			}
		}
		switch {
		case name == "user_id":
			return user
		case f.Kind() == protoreflect.StringKind:
			return "x"
		default:
			return "1" // numbers, and enums by number
		}
	})
	return method, path, true
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestRESTAuthorizationMatrix is TestAuthorizationMatrix through the REST mapping of
// every endpoint that has one: routing and the Authorization header must lead to the
// same decisions.
func TestRESTAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *gateway.Config) { c.RateLimit = 0 })
	secrets := s.scopeKeys(t)
	routes := 0
	for _, ep := range endpoints(t) {
		if _, _, ok := restRoute(t, ep.method, "u1"); !ok {
			continue
		}
		routes++
		rule, public := publicAPI[ep.name]
		for scope, secret := range secrets {
			for _, user := range rule.users() {
				method, path, _ := restRoute(t, ep.method, user)
				body := ""
				if method != http.MethodGet && method != http.MethodDelete {
					body = "{}"
				}
				resp, b := httpDo(t, method, s.http+path, secret, body, nil)
				want := scope == "admin" || (public && rule.scope == scope && (!rule.self || user == "u1"))
				got := resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests
				if got != want {
					t.Errorf("%s %s with a %s key: got %d %s, want admitted=%v", method, path, scope, resp.StatusCode, b, want)
				}
			}
		}
		// A 401 (not a 404) also proves the route exists.
		method, path, _ := restRoute(t, ep.method, "u1")
		for name, secret := range map[string]string{"no": "", "a wrong": "sk_wrong"} {
			if resp, b := httpDo(t, method, s.http+path, secret, "", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s key: got %d %s, want 401", method, path, name, resp.StatusCode, b)
			}
		}
	}
	if routes < 40 {
		t.Errorf("REST routes: got %d, want the whole suite's API (at least 40)", routes)
	}
}

func TestForwardedCallsReachTheBackendOnlyWhenAdmitted(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	_, reader := s.createKey(t, &gatewayv1.CreateKeyRequest{Name: "reader", UserId: "u1", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_READ_SELF}})
	const getProfile = "/strata.profile.v1.ProfileService/GetProfile"
	call := func(secret, user string) error {
		req, resp := request(t, mustMethod(t, getProfile), user)
		return s.conn.Invoke(bearer(t.Context(), secret), getProfile, req, resp)
	}
	if err := call(reader, "u1"); err != nil {
		t.Fatalf("own profile: %v", err)
	}
	if got := s.backend.calls.Load(); got != 1 {
		t.Errorf("backend calls after an admitted call: got %d, want 1", got)
	}
	_ = call(reader, "u2")
	_ = call("sk_wrong", "u1")
	// An unauthenticated caller is refused before validation: no field errors leak.
	if err := call("", ""); status.Code(err) != codes.Unauthenticated {
		t.Errorf("invalid request without a key: got %v, want Unauthenticated", err)
	}
	if got := s.backend.calls.Load(); got != 1 {
		t.Errorf("backend calls after refused calls: got %d, want 1", got)
	}
}

func mustMethod(t *testing.T, full string) protoreflect.MethodDescriptor {
	t.Helper()
	svc, name, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		t.Fatal(err)
	}
	return d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
}

// httpDo sends a REST request and returns the response with its body read.
func httpDo(t *testing.T, method, url, secret, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// rpcStatus is google.rpc.Status as grpc-gateway renders it.
type rpcStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"field_violations"`
		RetryDelay string `json:"retry_delay"`
	} `json:"details"`
}

func decodeStatus(t *testing.T, b []byte) rpcStatus {
	t.Helper()
	var st rpcStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	return st
}

func TestRESTKeysAndAudit(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	keys := s.http + "/api/v1/admin/keys"

	// Create through REST: the secret is shown once and works at once.
	resp, body := httpDo(t, http.MethodPost, keys, configuredAdmin, `{"name":"web","scopes":["SCOPE_READ_SELF"],"user_id":"u7","rate_per_second":5}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create: got %d %s, want 200", resp.StatusCode, body)
	}
	var created struct {
		Key struct {
			KeyID         string  `json:"key_id"`
			RatePerSecond float64 `json:"rate_per_second"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Secret == "" || created.Key.KeyID == "" {
		t.Fatalf("create body %s: %v", body, err)
	}
	if created.Key.RatePerSecond != 5 {
		t.Errorf("rate_per_second: got %v, want 5", created.Key.RatePerSecond)
	}
	profile := s.http + "/api/v1/users/u7/profile"
	if resp, body := httpDo(t, http.MethodGet, profile, created.Secret, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("own profile with the new key: got %d %s, want 200", resp.StatusCode, body)
	}

	// List never shows secrets.
	resp, body = httpDo(t, http.MethodGet, keys, configuredAdmin, "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), created.Key.KeyID) || strings.Contains(string(body), created.Secret) {
		t.Errorf("list: got %d %s, want 200 naming the key without its secret", resp.StatusCode, body)
	}

	// Revoke: the key stops working at once.
	if resp, body := httpDo(t, http.MethodDelete, keys+"/"+created.Key.KeyID, configuredAdmin, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: got %d %s, want 200", resp.StatusCode, body)
	}
	resp, body = httpDo(t, http.MethodGet, profile, created.Secret, "", nil)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("revoked key: got %d (WWW-Authenticate %q), want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if st := decodeStatus(t, body); st.Code != int(codes.Unauthenticated) || !strings.Contains(st.Message, "revoked") {
		t.Errorf("revoked key body: got %+v, want code 16 saying revoked", st)
	}
	if resp, _ := httpDo(t, http.MethodDelete, keys+"/key_missing", configuredAdmin, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown: got %d, want 404", resp.StatusCode)
	}

	// The audit log names who did what to which key, newest first.
	resp, body = httpDo(t, http.MethodGet, s.http+"/api/v1/admin/audit", configuredAdmin, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: got %d %s, want 200", resp.StatusCode, body)
	}
	var audit struct {
		Entries []struct {
			KeyID  string `json:"key_id"`
			Method string `json:"method"`
			Target string `json:"target"`
			Code   string `json:"code"`
			At     string `json:"at"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &audit); err != nil {
		t.Fatalf("audit body %s: %v", body, err)
	}
	var got []string
	for _, e := range audit.Entries {
		if !strings.HasPrefix(e.KeyID, "cfg_") || e.At == "" {
			t.Errorf("audit entry %+v: want the configured admin key and a time", e)
		}
		got = append(got, e.Method+" "+e.Target+" "+e.Code)
	}
	want := []string{
		"/strata.gateway.v1.KeyService/RevokeKey key_id=key_missing NOT_FOUND",
		"/strata.gateway.v1.KeyService/RevokeKey key_id=" + created.Key.KeyID + " OK",
		"/strata.gateway.v1.KeyService/CreateKey user_id=u7,key.key_id=" + created.Key.KeyID + " OK",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit entries:\ngot  %q\nwant %q", got, want)
	}
}

func TestRESTErrorModel(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	_, track := s.createKey(t, &gatewayv1.CreateKeyRequest{Name: "track", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}})
	keys := s.http + "/api/v1/admin/keys"
	tests := []struct {
		name       string
		method     string
		url        string
		secret     string
		body       string
		wantStatus int
		wantCode   codes.Code
		wantField  string // a field violation the details must name
	}{
		{"no key", http.MethodGet, keys, "", "", http.StatusUnauthorized, codes.Unauthenticated, ""},
		// Callers are admitted before requests are validated, on the gateway's own API too.
		{"invalid body without a key", http.MethodPost, keys, "", `{"name":""}`, http.StatusUnauthorized, codes.Unauthenticated, ""},
		{"wrong key", http.MethodGet, keys, "sk_wrong", "", http.StatusUnauthorized, codes.Unauthenticated, ""},
		{"missing scope", http.MethodGet, keys, track, "", http.StatusForbidden, codes.PermissionDenied, ""},
		{"invalid name", http.MethodPost, keys, configuredAdmin, `{"name":"","scopes":["SCOPE_TRACK"]}`, http.StatusBadRequest, codes.InvalidArgument, "name"},
		{"no scopes", http.MethodPost, keys, configuredAdmin, `{"name":"x"}`, http.StatusBadRequest, codes.InvalidArgument, "scopes"},
		{"read:self unbound", http.MethodPost, keys, configuredAdmin, `{"name":"x","scopes":["SCOPE_READ_SELF"]}`, http.StatusBadRequest, codes.InvalidArgument, "user_id"},
		{"forwarded validation", http.MethodGet, s.http + "/api/v1/admin/audit?page_size=5000", configuredAdmin, "", http.StatusBadRequest, codes.InvalidArgument, "page_size"},
		{"configured key is not revocable", http.MethodDelete, keys + "/" + configuredID(t, s), configuredAdmin, "", http.StatusBadRequest, codes.FailedPrecondition, ""},
		{"unknown key", http.MethodDelete, keys + "/key_missing", configuredAdmin, "", http.StatusNotFound, codes.NotFound, ""},
	}
	for _, tt := range tests {
		resp, body := httpDo(t, tt.method, tt.url, tt.secret, tt.body, nil)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: got HTTP %d %s, want %d", tt.name, resp.StatusCode, body, tt.wantStatus)
			continue
		}
		st := decodeStatus(t, body)
		if st.Code != int(tt.wantCode) || st.Message == "" {
			t.Errorf("%s: got status %+v, want code %d with a message", tt.name, st, tt.wantCode)
		}
		if tt.wantField == "" {
			continue
		}
		var fields []string
		for _, d := range st.Details {
			if d.Type == "type.googleapis.com/google.rpc.BadRequest" {
				for _, v := range d.FieldViolations {
					fields = append(fields, v.Field)
				}
			}
		}
		if !slices.Contains(fields, tt.wantField) {
			t.Errorf("%s: got field violations %v in %s, want one naming %q", tt.name, fields, body, tt.wantField)
		}
	}
}

// configuredID is the id of the configured admin key.
func configuredID(t *testing.T, s *suite) string {
	t.Helper()
	resp, err := gatewayv1.NewKeyServiceClient(s.conn).ListKeys(bearer(t.Context(), configuredAdmin), &gatewayv1.ListKeysRequest{})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	for _, k := range resp.GetKeys() {
		if k.GetConfigured() {
			return k.GetKeyId()
		}
	}
	t.Fatalf("ListKeys: got no configured key, want one")
	return ""
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	// 0.01 tokens a second: the bucket does not refill within the test.
	_, limited := s.createKey(t, &gatewayv1.CreateKeyRequest{Name: "limited", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}, RatePerSecond: 0.01, RateBurst: 2})
	_, other := s.createKey(t, &gatewayv1.CreateKeyRequest{Name: "other", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_ADMIN}})
	keys := s.http + "/api/v1/admin/keys"
	for i := range 2 {
		if resp, body := httpDo(t, http.MethodGet, keys, limited, "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d within the burst: got %d %s, want 200", i+1, resp.StatusCode, body)
		}
	}
	resp, body := httpDo(t, http.MethodGet, keys, limited, "", map[string]string{"Origin": webOrigin})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("REST past the burst: got %d %s, want 429", resp.StatusCode, body)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 100 {
		t.Errorf("Retry-After: got %q, want whole seconds in [1, 100]", resp.Header.Get("Retry-After"))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != webOrigin {
		t.Errorf("CORS on a 429: got Access-Control-Allow-Origin %q, want %q (browsers must see the 429)", got, webOrigin)
	}
	if st := decodeStatus(t, body); st.Code != int(codes.ResourceExhausted) {
		t.Errorf("429 body: got %+v, want code 8", st)
	}

	// gRPC: the same bucket, ResourceExhausted with a RetryInfo.
	_, err = gatewayv1.NewKeyServiceClient(s.conn).ListKeys(bearer(t.Context(), limited), &gatewayv1.ListKeysRequest{})
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Errorf("gRPC past the burst: got %v, want ResourceExhausted", got)
	}
	// A forwarded call is metered by the same bucket.
	req, out := request(t, mustMethod(t, "/strata.crm.v1.CRMService/ListCampaigns"), "")
	if err := s.conn.Invoke(bearer(t.Context(), limited), "/strata.crm.v1.CRMService/ListCampaigns", req, out); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("forwarded call past the burst: got %v, want ResourceExhausted", err)
	}
	// Other keys, and configured ones, are unaffected.
	for _, secret := range []string{other, configuredAdmin} {
		if resp, body := httpDo(t, http.MethodGet, keys, secret, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("another key: got %d %s, want 200", resp.StatusCode, body)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	preflight := map[string]string{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "Authorization, Content-Type, X-Evil"}
	tests := []struct {
		name       string
		method     string
		path       string
		origin     string
		preflight  bool
		wantStatus int
		wantAllow  string
	}{
		{"preflight from an allowed origin", http.MethodOptions, "/api/v1/users/u1/profile", webOrigin, true, http.StatusNoContent, webOrigin},
		{"preflight of the Segment API", http.MethodOptions, "/v1/batch", webOrigin, true, http.StatusNoContent, webOrigin},
		{"preflight from another origin", http.MethodOptions, "/api/v1/users/u1/profile", "https://evil.example", true, http.StatusForbidden, ""},
		{"request from an allowed origin", http.MethodGet, "/api/v1/admin/keys", webOrigin, false, http.StatusOK, webOrigin},
		{"request from another origin", http.MethodGet, "/api/v1/admin/keys", "https://evil.example", false, http.StatusOK, ""},
		{"request without an origin", http.MethodGet, "/api/v1/admin/keys", "", false, http.StatusOK, ""},
		{"OpenAPI document", http.MethodGet, "/openapi.json", webOrigin, false, http.StatusOK, webOrigin},
	}
	for _, tt := range tests {
		h := map[string]string{}
		if tt.origin != "" {
			h["Origin"] = tt.origin
		}
		secret := configuredAdmin
		if tt.preflight {
			secret = "" // browsers send no credentials on a preflight
			for k, v := range preflight {
				h[k] = v
			}
		}
		resp, body := httpDo(t, tt.method, s.http+tt.path, secret, "", h)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: got %d %s, want %d", tt.name, resp.StatusCode, body, tt.wantStatus)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
			t.Errorf("%s: Access-Control-Allow-Origin got %q, want %q", tt.name, got, tt.wantAllow)
		}
		if tt.preflight && tt.wantAllow != "" {
			if got := resp.Header.Get("Access-Control-Allow-Headers"); got != "authorization, content-type" {
				t.Errorf("%s: Access-Control-Allow-Headers got %q, want the allowed subset of the request", tt.name, got)
			}
			if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "GET") {
				t.Errorf("%s: Access-Control-Allow-Methods got %q, want GET among them", tt.name, got)
			}
		}
	}
	if got := s.segment.Load(); got != 0 {
		t.Errorf("Segment requests reaching ingest: got %d, want 0 (preflights are answered by the gateway)", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := gateway.DefaultConfig()
	valid.AdminKeys = []string{"a"}
	valid.Keys.SQLitePath = "/tmp/x.db"
	tests := []struct {
		name   string
		change func(*gateway.Config)
		want   error
	}{
		{"valid", func(*gateway.Config) {}, nil},
		{"no admin key", func(c *gateway.Config) { c.AdminKeys = nil }, gateway.ErrMissingAdminKey},
		{"no backend", func(c *gateway.Config) { c.CRMAddr = "" }, gateway.ErrMissingBackend},
		{"negative rate", func(c *gateway.Config) { c.RateLimit = -1 }, gateway.ErrNegativeLimit},
		{"no key store", func(c *gateway.Config) { c.Keys.SQLitePath = "" }, keystore.ErrNoDatabase},
	}
	for _, tt := range tests {
		c := valid
		tt.change(&c)
		err := c.Validate()
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
