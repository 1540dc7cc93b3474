package crm_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/topics"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// TestErasureStatus: the CRM carries out an erasure request and reports its receipt, then
// collects the other services' receipts from strata.privacy.receipts.v1 until the
// erasure is complete.
func TestErasureStatus(t *testing.T) {
	t.Parallel()
	r := start(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")})
	ctx := context.Background()
	const user, req = "erasure-user", "erasure-req-1"
	r.publish(t, topics.Events, user, track("er-1", user, "Order Completed", time.Now().UTC(), map[string]any{"order_id": "eo1", "revenue": 5}))
	r.publish(t, topics.Privacy, user, &privacyv1.PrivacyRequest{RequestId: req, UserId: user, Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE})

	var st *crmv1.ErasureStatus
	eventually(t, "the CRM's own receipt", func() bool {
		var err error
		st, err = r.client.GetErasureStatus(ctx, &crmv1.GetErasureStatusRequest{RequestId: req})
		return err == nil
	})
	if st.GetComplete() || st.GetUserId() != user || len(st.GetReceipts()) != 1 || st.GetReceipts()[0].GetService() != "crm" ||
		!slices.Equal(st.GetMissing(), []string{"ingest", "prediction", "profile", "recommendation"}) {
		t.Errorf("after the CRM's erasure: got %v, want the crm receipt, the four others missing", st)
	}
	for _, svc := range []string{"ingest", "prediction", "profile", "recommendation"} {
		r.publish(t, topics.PrivacyReceipts, req+"/"+svc, &privacyv1.ErasureReceipt{RequestId: req, UserId: user, Service: svc,
			CompletedAt: timestamppb.Now(), Items: 2})
	}
	eventually(t, "the erasure complete", func() bool {
		var err error
		st, err = r.client.GetErasureStatus(ctx, &crmv1.GetErasureStatusRequest{RequestId: req})
		return err == nil && st.GetComplete()
	})
	if len(st.GetReceipts()) != 5 || len(st.GetMissing()) != 0 {
		t.Errorf("complete: got %v, want five receipts, none missing", st)
	}

	tests := []struct {
		name string
		req  *crmv1.GetErasureStatusRequest
		want codes.Code
	}{
		{"unknown request", &crmv1.GetErasureStatusRequest{RequestId: "never-requested"}, codes.NotFound},
		{"no request id", &crmv1.GetErasureStatusRequest{}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		if _, err := r.client.GetErasureStatus(ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
