package suitetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// RunEndToEnd checks the first slice of behaviour: events posted to the gateway's Segment
// API become a profile read back over gRPC and REST, and bad input is refused with a
// JSON error naming the problem while nothing of it is published.
func RunEndToEnd(t *testing.T, s *Suite) {
	t.Run("events become a profile", func(t *testing.T) { testEventsBecomeProfile(t, s) })
	t.Run("bad input is refused and not published", func(t *testing.T) { testBadInput(t, s) })
	t.Run("services not built yet answer Unimplemented", func(t *testing.T) { testUnimplemented(t, s) })
}

// testUnimplemented checks that prediction, recommendation and crm are up behind the
// gateway (their health made it ready) and answer Unimplemented for what comes later.
func testUnimplemented(t *testing.T, s *Suite) {
	ctx := s.Admin(context.Background())
	calls := map[string]func() error{
		"Predict": func() error {
			_, err := predictionv1.NewPredictionServiceClient(s.Conn).Predict(ctx, &predictionv1.PredictRequest{UserId: "u1"})
			return err
		},
		"Recommend": func() error {
			_, err := recommendationv1.NewRecommendationServiceClient(s.Conn).Recommend(ctx, &recommendationv1.RecommendRequest{UserId: "u1", N: 10})
			return err
		},
		"GetCustomer": func() error {
			_, err := crmv1.NewCRMServiceClient(s.Conn).GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: "u1"})
			return err
		},
	}
	for name, call := range calls {
		if got, want := status.Code(call()), codes.Unimplemented; got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}

func testEventsBecomeProfile(t *testing.T, s *Suite) {
	user := UserID("e2e")
	batch := fmt.Sprintf(`{"batch":[
		{"type":"identify","userId":%[1]q,"anonymousId":"anon-%[1]s","traits":{"city_tier":"1","interests":["go","ml"]},"messageId":"m1-%[1]s"},
		{"type":"track","userId":%[1]q,"event":"Lesson Completed","properties":{"minutes":12,"progress":1},"messageId":"m2-%[1]s","timestamp":"2026-11-01T10:00:00Z"},
		{"type":"track","userId":%[1]q,"event":"Lesson Completed","properties":{"minutes":7},"messageId":"m3-%[1]s","timestamp":"2026-11-02T10:00:00Z"},
		{"type":"track","userId":%[1]q,"event":"Order Completed","properties":{"order_id":"o1","revenue":99},"messageId":"m4-%[1]s","timestamp":"2026-11-03T10:00:00Z"}
	]}`, user)
	code, body := s.Segment(t, "/v1/batch", []byte(batch))
	if code != http.StatusOK || body["success"] != true {
		t.Fatalf("POST /v1/batch: got %d %v, want 200 success", code, body)
	}

	client := profilev1.NewProfileServiceClient(s.Conn)
	var p *profilev1.Profile
	Eventually(t, 30*time.Second, "profile over gRPC", func() bool {
		ctx, cancel := context.WithTimeout(s.Admin(context.Background()), 5*time.Second)
		defer cancel()
		got, err := client.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: user})
		if err != nil {
			if status.Code(err) != codes.NotFound {
				t.Logf("GetProfile: %v", err)
			}
			return false
		}
		p = got
		return got.GetEventsTotal() == 4
	})
	if got, want := p.GetEventCounts()["Lesson Completed"], int64(2); got != want {
		t.Errorf("Lesson Completed count: got %v, want %v", got, want)
	}
	if got, want := p.GetEventCounts()["identify"], int64(1); got != want {
		t.Errorf("identify count: got %v, want %v", got, want)
	}
	if got, want := p.GetTraits().GetFields()["city_tier"].GetStringValue(), "1"; got != want {
		t.Errorf("trait city_tier: got %q, want %q", got, want)
	}
	if got, want := p.GetLastSeen().AsTime().Format(time.RFC3339), "2026-11-03T10:00:00Z"; got < want {
		t.Errorf("last_seen: got %v, want at least %v", got, want)
	}

	code, rest := s.GetJSON(t, "/api/v1/users/"+user+"/profile")
	if code != http.StatusOK {
		t.Fatalf("GET profile: got %d %v, want 200", code, rest)
	}
	if got, want := rest["user_id"], user; got != want {
		t.Errorf("REST user_id: got %v, want %v", got, want)
	}
	if got, want := fmt.Sprint(rest["events_total"]), "4"; got != want {
		t.Errorf("REST events_total: got %v, want %v", got, want)
	}

	// Without a key the gateway refuses the read.
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.HTTP+"/api/v1/users/"+user+"/profile", nil)
	if code, _ := do(t, req); code != http.StatusUnauthorized {
		t.Errorf("GET profile without key: got %d, want 401", code)
	}
}

func testBadInput(t *testing.T, s *Suite) {
	victim := UserID("bad")
	tests := []struct {
		name, path, body, wantField string
	}{
		{"malformed JSON", "/v1/track", `{"userId":` + fmt.Sprintf("%q", victim) + `,"event":`, "body"},
		{"missing userId and anonymousId", "/v1/track", `{"event":"Lesson Started"}`, "userId"},
		{"unknown type", "/v1/batch", `{"batch":[{"type":"track","userId":` + fmt.Sprintf("%q", victim) + `,"event":"Item Rated"},{"type":"purchase","userId":"x"}]}`, "batch[1].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Segment(t, tt.path, []byte(tt.body))
			if code != http.StatusBadRequest {
				t.Fatalf("got %d %v, want 400", code, body)
			}
			errObj, _ := body["error"].(map[string]any)
			vs, _ := errObj["field_violations"].([]any)
			if len(vs) == 0 {
				t.Fatalf("error has no field_violations: %v", body)
			}
			if got := vs[0].(map[string]any)["field"]; got != tt.wantField {
				t.Errorf("field: got %v, want %v", got, tt.wantField)
			}
		})
	}

	// A valid event after the bad ones, for a user on any partition, proves the pipeline
	// moved on; the victim, whose only events were in refused requests, has no profile.
	sentinel := UserID("sentinel")
	code, body := s.Segment(t, "/v1/track", []byte(fmt.Sprintf(`{"userId":%q,"event":"Lesson Started"}`, sentinel)))
	if code != http.StatusOK {
		t.Fatalf("sentinel: got %d %v", code, body)
	}
	client := profilev1.NewProfileServiceClient(s.Conn)
	Eventually(t, 30*time.Second, "sentinel profile", func() bool {
		_, err := client.GetProfile(s.Admin(context.Background()), &profilev1.GetProfileRequest{UserId: sentinel})
		return err == nil
	})
	_, err := client.GetProfile(s.Admin(context.Background()), &profilev1.GetProfileRequest{UserId: victim})
	if got, want := status.Code(err), codes.NotFound; got != want {
		t.Errorf("victim profile: got %v, want %v (a refused event was published)", got, want)
	}

	// A validation error over gRPC names the field too.
	_, err = client.GetProfile(s.Admin(context.Background()), &profilev1.GetProfileRequest{})
	if got, want := status.Code(err), codes.InvalidArgument; got != want {
		t.Errorf("GetProfile without user_id: got %v, want %v", got, want)
	}
	// Over REST a validation error is a 400 whose google.rpc.Status names the field.
	code, rest := s.GetJSON(t, "/api/v1/users/"+sentinel+"/recommendations?n=1000")
	raw, _ := json.Marshal(rest)
	if code != http.StatusBadRequest {
		t.Fatalf("GET recommendations n=1000: got %d %s, want 400", code, raw)
	}
	if !strings.Contains(string(raw), `"field":"n"`) {
		t.Errorf("GET recommendations n=1000: body %s does not name field n", raw)
	}
}
