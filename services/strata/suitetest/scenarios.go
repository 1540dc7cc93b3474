package suitetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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
	t.Run("orders become recommendations", func(t *testing.T) { testRecommendations(t, s) })
	t.Run("orders become a prediction", func(t *testing.T) { testPredictionFollowsOrders(t, s) })
	t.Run("events become a customer 360", func(t *testing.T) { testCustomer360(t, s) })
	t.Run("right to erasure", func(t *testing.T) { testErasure(t, s) })
}

// testCustomer360 checks that the CRM builds a customer's 360 view from the events:
// orders, satisfaction answers and the follow-up task a detractor opens, over gRPC and
// REST.
func testCustomer360(t *testing.T, s *Suite) {
	user := UserID("crm")
	batch := fmt.Sprintf(`{"batch":[
		{"type":"track","userId":%[1]q,"event":"Order Completed","properties":{"order_id":"o-%[1]s","revenue_minor":9900,"currency":"CNY","products":[{"product_id":"c1","price_minor":9900}]},"messageId":"c1-%[1]s","timestamp":"2026-11-03T10:00:00Z"},
		{"type":"track","userId":%[1]q,"event":"Survey Answered","properties":{"survey":"nps","score":3},"messageId":"c2-%[1]s","timestamp":"2026-11-03T11:00:00Z"}
	]}`, user)
	if code, body := s.Segment(t, "/v1/batch", []byte(batch)); code != http.StatusOK {
		t.Fatalf("POST /v1/batch: got %d %v, want 200", code, body)
	}
	client := crmv1.NewCRMServiceClient(s.Conn)
	var c *crmv1.Customer
	Eventually(t, 30*time.Second, "customer 360 over gRPC", func() bool {
		got, err := client.GetCustomer(s.Admin(context.Background()), &crmv1.GetCustomerRequest{UserId: user})
		if err != nil {
			if status.Code(err) != codes.NotFound {
				t.Logf("GetCustomer: %v", err)
			}
			return false
		}
		c = got
		return len(got.GetInteractions()) == 2
	})
	if c.GetOrders() != 1 || c.GetRevenueMinor() != 9900 || c.GetCurrency() != "CNY" {
		t.Errorf("orders: got %d, revenue %d %s; want 1, 9900 CNY", c.GetOrders(), c.GetRevenueMinor(), c.GetCurrency())
	}
	if len(c.GetSatisfaction()) != 1 || len(c.GetOpenTasks()) != 1 || c.GetOpenTasks()[0].GetReason() != "nps_detractor" {
		t.Errorf("satisfaction: got answers %v, open tasks %v; want one nps answer and its detractor task", c.GetSatisfaction(), c.GetOpenTasks())
	}
	code, rest := s.GetJSON(t, "/api/v1/admin/customers/"+user)
	if code != http.StatusOK {
		t.Fatalf("GET customer: got %d %v, want 200", code, rest)
	}
	if got, want := fmt.Sprint(rest["orders"]), "1"; got != want {
		t.Errorf("REST orders: got %v, want %v", got, want)
	}
	_, err := client.GetCustomer(s.Admin(context.Background()), &crmv1.GetCustomerRequest{UserId: UserID("nobody")})
	if got, want := status.Code(err), codes.NotFound; got != want {
		t.Errorf("GetCustomer of an unknown user: got %v, want %v", got, want)
	}
}

// testRecommendations checks that orders sent to the Segment API reach the recommendation
// service through Kafka: a buyer is never recommended what they bought, a new user gets
// the popular items, every item carries a reason and every list its A/B variant, over
// gRPC and REST. A category unique to the run keeps other data out of the lists.
func testRecommendations(t *testing.T, s *Suite) {
	buyer, other, fresh := UserID("rec-buyer"), UserID("rec-other"), UserID("rec-fresh")
	bought, alsoBought, category := UserID("course"), UserID("course"), UserID("category")
	batch := fmt.Sprintf(`{"batch":[
		{"type":"track","userId":%[1]q,"event":"Order Completed","properties":{"order_id":"o-%[1]s","revenue":10,"products":[{"product_id":%[3]q,"category":%[5]q}]},"messageId":"r1-%[1]s"},
		{"type":"track","userId":%[2]q,"event":"Order Completed","properties":{"order_id":"o-%[2]s","revenue":20,"products":[{"product_id":%[3]q,"category":%[5]q},{"product_id":%[4]q,"category":%[5]q}]},"messageId":"r2-%[2]s"},
		{"type":"track","userId":%[2]q,"event":"Product Viewed","properties":{"product_id":%[4]q,"category":%[5]q},"messageId":"r3-%[2]s"}
	]}`, buyer, other, bought, alsoBought, category)
	if code, body := s.Segment(t, "/v1/batch", []byte(batch)); code != http.StatusOK {
		t.Fatalf("POST /v1/batch: got %d %v, want 200", code, body)
	}
	client := recommendationv1.NewRecommendationServiceClient(s.Conn)
	filters := &recommendationv1.Filters{Categories: []string{category}}
	recommend := func(user string) *recommendationv1.RecommendResponse {
		ctx, cancel := context.WithTimeout(s.Admin(context.Background()), 5*time.Second)
		defer cancel()
		resp, err := client.Recommend(ctx, &recommendationv1.RecommendRequest{UserId: user, Scene: recommendationv1.Scene_SCENE_HOME, N: 5, Filters: filters})
		if err != nil {
			t.Logf("Recommend %s: %v", user, err)
			return nil
		}
		return resp
	}
	ids := itemIDs
	// Until the buyer's order is consumed the buyer is a new user, who gets both items.
	var got *recommendationv1.RecommendResponse
	Eventually(t, 30*time.Second, "the buyer's recommendations without the bought item", func() bool {
		got = recommend(buyer)
		return len(got.GetItems()) > 0 && !slices.Contains(ids(got), bought)
	})
	if g := ids(got); len(g) != 1 || g[0] != alsoBought {
		t.Errorf("buyer's list: got %v, want [%s] (what they bought, %s, excluded)", g, alsoBought, bought)
	}
	if got.GetVariant() == "" || got.GetItems()[0].GetReason() == "" {
		t.Errorf("buyer's list: got variant %q, reason %q; want both set", got.GetVariant(), got.GetItems()[0].GetReason())
	}
	// The popular ranking a new user gets may lag the events by a fraction of a second.
	Eventually(t, 10*time.Second, "the new user's list of both items, the most bought first", func() bool {
		got = recommend(fresh)
		g := ids(got)
		return len(g) == 2 && g[0] == bought && g[1] == alsoBought
	})
	if got.GetSource() != "popular" {
		t.Errorf("new user's list: got source %q, want popular", got.GetSource())
	}

	code, rest := s.GetJSON(t, "/api/v1/users/"+buyer+"/recommendations?n=5&filters.categories="+category)
	var restIDs []string
	items, _ := rest["items"].([]any)
	for _, it := range items {
		item, _ := it.(map[string]any)
		restIDs = append(restIDs, fmt.Sprint(item["item_id"]))
	}
	if code != http.StatusOK || !slices.Equal(restIDs, []string{alsoBought}) {
		t.Errorf("GET recommendations: got %d %v, want 200 listing only %s", code, rest, alsoBought)
	}

	// An admin retrains on demand; the item-to-item model then knows the two were bought
	// together.
	ctx, cancel := context.WithTimeout(s.Admin(context.Background()), 2*time.Minute)
	defer cancel()
	run, err := client.Train(ctx, &recommendationv1.TrainRequest{Wait: true})
	if err != nil || run.GetStatus() != recommendationv1.TrainingStatus_TRAINING_STATUS_SUCCEEDED {
		t.Fatalf("Train: got %v %v, want a succeeded run", run, err)
	}
	sim, err := client.SimilarItems(ctx, &recommendationv1.SimilarItemsRequest{ItemId: bought, N: 5})
	if err != nil || len(sim.GetItems()) == 0 || sim.GetItems()[0].GetItemId() != alsoBought {
		t.Errorf("SimilarItems(%s): got %v %v, want %s first", bought, sim.GetItems(), err, alsoBought)
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

// testPredictionFollowsOrders checks that orders sent to the Segment API reach the
// prediction service through Kafka and come back from Predict (gRPC and REST) with a
// lifetime value, and that an unknown user is NotFound.
func testPredictionFollowsOrders(t *testing.T, s *Suite) {
	user := UserID("buyer")
	tenDaysAgo := time.Now().Add(-10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	batch := fmt.Sprintf(`{"batch":[
		{"type":"track","userId":%[1]q,"event":"Order Completed","properties":{"order_id":"o1-%[1]s","revenue":49.5,"currency":"CNY"},"messageId":"p1-%[1]s","timestamp":%[2]q},
		{"type":"track","userId":%[1]q,"event":"Order Completed","properties":{"order_id":"o2-%[1]s","revenue":99,"currency":"CNY"},"messageId":"p2-%[1]s"}
	]}`, user, tenDaysAgo)
	if code, body := s.Segment(t, "/v1/batch", []byte(batch)); code != http.StatusOK {
		t.Fatalf("POST /v1/batch: got %d %v, want 200", code, body)
	}
	client := predictionv1.NewPredictionServiceClient(s.Conn)
	var p *predictionv1.Prediction
	Eventually(t, 30*time.Second, "prediction over gRPC", func() bool {
		ctx, cancel := context.WithTimeout(s.Admin(context.Background()), 5*time.Second)
		defer cancel()
		got, err := client.Predict(ctx, &predictionv1.PredictRequest{UserId: user})
		if err != nil {
			if status.Code(err) != codes.NotFound {
				t.Logf("Predict: %v", err)
			}
			return false
		}
		p = got
		return got.GetClvMinor() > 0
	})
	if p.GetUserId() != user || p.GetPAlive() <= 0 || p.GetPAlive() > 1 || p.GetModelVersions()["lifetime_value"] == "" {
		t.Errorf("Predict: got %v, want the user's CLV, p_alive in (0, 1] and the CLV model version", p)
	}
	code, rest := s.GetJSON(t, "/api/v1/users/"+user+"/predictions")
	if code != http.StatusOK || rest["user_id"] != user {
		t.Errorf("GET predictions: got %d %v, want 200 with user_id %s", code, rest, user)
	}
	_, err := client.Predict(s.Admin(context.Background()), &predictionv1.PredictRequest{UserId: UserID("nobody")})
	if got, want := status.Code(err), codes.NotFound; got != want {
		t.Errorf("Predict unknown user: got %v, want %v", got, want)
	}
}
