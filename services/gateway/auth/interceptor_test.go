package auth

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
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
	"/strata.prediction.v1.PredictionService/PredictCategories": func(u string) any {
		return &predictionv1.PredictCategoriesRequest{UserId: u}
	},
	"/strata.recommendation.v1.RecommendationService/Recommend": func(u string) any {
		return &recommendationv1.RecommendRequest{UserId: u}
	},
	"/strata.recommendation.v1.RecommendationService/SimilarItems": func(string) any {
		return &recommendationv1.SimilarItemsRequest{ItemId: "c1"}
	},
	"/strata.recommendation.v1.RecommendationService/Popular": func(string) any { return &recommendationv1.PopularRequest{} },
	"/strata.recommendation.v1.RecommendationService/Feedback": func(u string) any {
		return &recommendationv1.FeedbackRequest{UserId: u, ItemId: "c1", Action: recommendationv1.FeedbackAction_FEEDBACK_ACTION_DISMISS}
	},
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
		{"/strata.prediction.v1.PredictionService/PredictCategories", selfRead},
		{"/strata.recommendation.v1.RecommendationService/Recommend", selfRecommend},
		{"/strata.recommendation.v1.RecommendationService/SimilarItems", anyRecommend},
		{"/strata.recommendation.v1.RecommendationService/Popular", anyRecommend},
		{"/strata.recommendation.v1.RecommendationService/Feedback", selfRecommend},
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

func TestAuthorizeBoundTrackKey(t *testing.T) {
	t.Parallel()
	bound := &gatewayv1.Key{KeyId: "k-app", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}, UserId: "u1"}
	server := &gatewayv1.Key{KeyId: "k-server", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_TRACK}}
	const ingest, batch = "/strata.ingest.v1.IngestService/Ingest", "/strata.ingest.v1.IngestService/IngestBatch"
	tests := []struct {
		name   string
		key    *gatewayv1.Key
		method string
		req    any
		want   codes.Code
	}{
		{"own event", bound, ingest, &ingestv1.IngestRequest{Event: &eventv1.Event{UserId: "u1"}}, allow},
		{"anonymous event", bound, ingest, &ingestv1.IngestRequest{Event: &eventv1.Event{AnonymousId: "a1"}}, allow},
		{"someone else's event", bound, ingest, &ingestv1.IngestRequest{Event: &eventv1.Event{UserId: "u2"}}, deny},
		{"a batch with one foreign event", bound, batch, &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{{UserId: "u1"}, {UserId: "u2"}}}, deny},
		{"a batch of own events", bound, batch, &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{{UserId: "u1"}, {AnonymousId: "a"}}}, allow},
		{"server key, any user", server, batch, &ingestv1.IngestBatchRequest{Events: []*eventv1.Event{{UserId: "u1"}, {UserId: "u2"}}}, allow},
	}
	for _, tt := range tests {
		if got := status.Code(Authorize(tt.key, tt.method, tt.req)); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
