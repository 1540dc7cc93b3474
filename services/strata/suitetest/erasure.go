package suitetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// testErasure checks the right to erasure end to end: a user's events become a profile,
// a customer 360 and personal recommendations; an admin requests the erasure through the
// gateway (IngestService.RequestErasure, published to strata.privacy.v1); then the
// profile is gone (NotFound), the CRM no longer knows the user (its rows are anonymised
// under a pseudonym), the recommendations fall back to the popular items (the history is
// gone), and the compacted profile changelog holds a tombstone for the user, so a
// restore does not bring the profile back. The erasure is verifiable: the CRM's
// GetErasureStatus (also GET /api/v1/admin/privacy/erasures/{request_id}) lists the
// receipt of every service that carried it out.
func testErasure(t *testing.T, s *Suite) {
	user, other := UserID("erase"), UserID("erase-other")
	bought, alsoBought, category := UserID("course"), UserID("course"), UserID("category")
	batch := fmt.Sprintf(`{"batch":[
		{"type":"identify","userId":%[1]q,"anonymousId":"anon-%[1]s","traits":{"interests":["go"]},"messageId":"x1-%[1]s"},
		{"type":"track","userId":%[1]q,"event":"Order Completed","properties":{"order_id":"o-%[1]s","revenue_minor":1000,"currency":"CNY","products":[{"product_id":%[3]q,"category":%[5]q,"price_minor":1000}]},"messageId":"x2-%[1]s"},
		{"type":"track","userId":%[2]q,"event":"Order Completed","properties":{"order_id":"o-%[2]s","revenue":20,"products":[{"product_id":%[3]q,"category":%[5]q},{"product_id":%[4]q,"category":%[5]q}]},"messageId":"x3-%[2]s"}
	]}`, user, other, bought, alsoBought, category)
	if code, body := s.Segment(t, "/v1/batch", []byte(batch)); code != http.StatusOK {
		t.Fatalf("POST /v1/batch: got %d %v, want 200", code, body)
	}
	ctx := s.Admin(context.Background())
	profiles := profilev1.NewProfileServiceClient(s.Conn)
	crm := crmv1.NewCRMServiceClient(s.Conn)
	recs := recommendationv1.NewRecommendationServiceClient(s.Conn)
	filters := &recommendationv1.Filters{Categories: []string{category}}
	recommend := func() *recommendationv1.RecommendResponse {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := recs.Recommend(rctx, &recommendationv1.RecommendRequest{UserId: user, Scene: recommendationv1.Scene_SCENE_HOME, N: 5, Filters: filters})
		if err != nil {
			t.Logf("Recommend: %v", err)
			return nil
		}
		return resp
	}

	// Before: the suite knows the user everywhere.
	Eventually(t, 30*time.Second, "the user's profile with both events", func() bool {
		p, err := profiles.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: user})
		return err == nil && p.GetEventsTotal() == 2
	})
	Eventually(t, 30*time.Second, "the user's customer 360", func() bool {
		c, err := crm.GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: user})
		return err == nil && c.GetOrders() == 1
	})
	Eventually(t, 30*time.Second, "personal recommendations without the bought item", func() bool {
		got := recommend()
		return len(got.GetItems()) > 0 && !slices.Contains(itemIDs(got), bought)
	})
	before, err := bus.PartitionRanges(context.Background(), bus.Config{Brokers: s.Brokers}, topics.Profiles)
	if err != nil {
		t.Fatalf("profile changelog offsets: %v", err)
	}

	resp, err := ingestv1.NewIngestServiceClient(s.Conn).RequestErasure(ctx, &ingestv1.RequestErasureRequest{UserId: user})
	if err != nil || resp.GetRequestId() == "" {
		t.Fatalf("RequestErasure: got %v, %v; want a request id", resp, err)
	}
	// Only an admin may erase.
	if _, err := ingestv1.NewIngestServiceClient(s.Conn).RequestErasure(context.Background(), &ingestv1.RequestErasureRequest{UserId: user}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("RequestErasure without a key: got %v, want Unauthenticated", err)
	}

	// After: gone everywhere.
	Eventually(t, 30*time.Second, "GetProfile NotFound after the erasure", func() bool {
		_, err := profiles.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: user})
		return status.Code(err) == codes.NotFound
	})
	Eventually(t, 30*time.Second, "GetCustomer NotFound after the erasure (rows anonymised)", func() bool {
		_, err := crm.GetCustomer(ctx, &crmv1.GetCustomerRequest{UserId: user})
		return status.Code(err) == codes.NotFound
	})
	var got *recommendationv1.RecommendResponse
	Eventually(t, 30*time.Second, "recommendations without the user's history", func() bool {
		got = recommend()
		return got.GetSource() == "popular" && slices.Contains(itemIDs(got), bought)
	})
	for _, it := range got.GetItems() {
		if it.GetReason() == "" || slices.Contains([]string{bought, alsoBought}, it.GetReason()) {
			t.Errorf("item %s after the erasure: reason %q, want a popularity reason", it.GetItemId(), it.GetReason())
		}
	}
	if code, rest := s.GetJSON(t, "/api/v1/users/"+user+"/profile"); code != http.StatusNotFound {
		t.Errorf("GET profile after the erasure: got %d %v, want 404", code, rest)
	}
	if !profileTombstoned(t, s.Brokers, before, user) {
		t.Errorf("no tombstone for %s on %s after the erasure", user, topics.Profiles)
	}
	checkErasureReceipts(t, s, resp.GetRequestId(), user)
	// Replaying the request, this time over REST, is harmless: the user stays erased and
	// a fresh profile is not created.
	code, rest := s.PostJSON(t, "/api/v1/admin/privacy/erasures", fmt.Appendf(nil, `{"user_id":%q,"request_id":%q}`, user, resp.GetRequestId()))
	if code != http.StatusOK || rest["request_id"] != resp.GetRequestId() {
		t.Fatalf("POST erasure again: got %d %v, want 200 with request id %s", code, rest, resp.GetRequestId())
	}
	before, err = bus.PartitionRanges(context.Background(), bus.Config{Brokers: s.Brokers}, topics.Profiles)
	if err != nil {
		t.Fatalf("profile changelog offsets: %v", err)
	}
	if _, err := ingestv1.NewIngestServiceClient(s.Conn).RequestErasure(ctx, &ingestv1.RequestErasureRequest{UserId: user}); err != nil {
		t.Fatalf("RequestErasure again: %v", err)
	}
	// The replays are carried out (each one tombstones the key again) and change nothing.
	Eventually(t, 30*time.Second, "the replayed erasure's tombstone", func() bool {
		return profileTombstoned(t, s.Brokers, before, user)
	})
	if _, err := profiles.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: user}); status.Code(err) != codes.NotFound {
		t.Errorf("GetProfile after the replay: got %v, want NotFound", err)
	}
}

// receiptServices are the services that carry erasures out and report them.
var receiptServices = []string{"crm", "ingest", "prediction", "profile", "recommendation"}

// checkErasureReceipts waits until the CRM reports the erasure complete, with a receipt
// of every service in receiptServices, over gRPC, then checks the REST route shows the
// same, admin-only.
func checkErasureReceipts(t *testing.T, s *Suite, requestID, user string) {
	t.Helper()
	ctx := s.Admin(context.Background())
	crm := crmv1.NewCRMServiceClient(s.Conn)
	var st *crmv1.ErasureStatus
	Eventually(t, 30*time.Second, "the erasure complete, with receipts of "+strings.Join(receiptServices, ", "), func() bool {
		var err error
		st, err = crm.GetErasureStatus(ctx, &crmv1.GetErasureStatusRequest{RequestId: requestID})
		return err == nil && st.GetComplete()
	})
	reported := map[string]bool{}
	for _, r := range st.GetReceipts() {
		reported[r.GetService()] = r.GetRequestId() == requestID && r.GetUserId() == user && r.GetCompletedAt() != nil
	}
	for _, svc := range receiptServices {
		if !reported[svc] {
			t.Errorf("erasure status %v: no receipt of %s for request %s and user %s", st, svc, requestID, user)
		}
	}
	if st.GetUserId() != user || len(st.GetMissing()) != 0 || len(st.GetReceipts()) != len(receiptServices) {
		t.Errorf("erasure status: got %v, want the user and one receipt of each of the five services", st)
	}
	if _, err := crm.GetErasureStatus(context.Background(), &crmv1.GetErasureStatusRequest{RequestId: requestID}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetErasureStatus without a key: got %v, want Unauthenticated", err)
	}
	code, rest := s.GetJSON(t, "/api/v1/admin/privacy/erasures/"+requestID)
	if code != http.StatusOK || rest["request_id"] != requestID || rest["user_id"] != user || rest["complete"] != true {
		t.Errorf("GET erasure status: got %d %v, want 200 with the request, the user and complete", code, rest)
	}
}

// profileTombstoned reports whether the profile changelog holds a tombstone for user
// among the records written after the offsets in before.
func profileTombstoned(t *testing.T, brokers []string, before []bus.PartitionRange, user string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	after, err := bus.PartitionRanges(ctx, bus.Config{Brokers: brokers}, topics.Profiles)
	if err != nil {
		t.Fatalf("profile changelog offsets: %v", err)
	}
	from := map[int]int64{}
	for _, p := range before {
		from[p.Partition] = p.End
	}
	for _, p := range after {
		if p.End <= from[p.Partition] {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topics.Profiles, Partition: p.Partition, MaxWait: time.Second})
		found, err := func() (bool, error) {
			defer r.Close()
			if err := r.SetOffset(from[p.Partition]); err != nil {
				return false, err
			}
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return false, err
				}
				if string(m.Key) == user && m.Value == nil {
					return true, nil
				}
				if m.Offset >= p.End-1 {
					return false, nil
				}
			}
		}()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read %s/%d: %v", topics.Profiles, p.Partition, err)
		}
		if found {
			return true
		}
	}
	return false
}

// itemIDs lists the ids of a recommendation list's items, in order.
func itemIDs(resp *recommendationv1.RecommendResponse) []string {
	var out []string
	for _, it := range resp.GetItems() {
		out = append(out, it.GetItemId())
	}
	return out
}
