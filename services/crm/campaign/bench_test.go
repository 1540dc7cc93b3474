package campaign_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/store"
	"github.com/stratahq/strata/services/crm/store/storetest"
)

// benchUsers is the audience size of the launch benchmarks: 100,000 by default, so that
// `make bench` stays quick; STRATA_CRM_BENCH_USERS=1000000 measures the 1M target.
func benchUsers(b *testing.B) int {
	b.Helper()
	if v := os.Getenv("STRATA_CRM_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("STRATA_CRM_BENCH_USERS=%q: want a positive integer", v)
		}
		return n
	}
	return 100_000
}

// importUsers bulk-loads n customers in segment "all" with email consent and scores.
func importUsers(b *testing.B, s *store.Store, n int) {
	b.Helper()
	const chunk = 50_000
	for lo := 0; lo < n; lo += chunk {
		cs := make([]store.ImportedCustomer, 0, chunk)
		for k := lo; k < min(n, lo+chunk); k++ {
			cs = append(cs, store.ImportedCustomer{UserID: fmt.Sprintf("user-%07d", k), RFMTier: "Loyal", Orders: int64(k % 5), DiscountedOrders: int64(k % 2),
				Consent:    map[string]bool{"email": k%20 != 0},
				Prediction: &store.Prediction{PurchasePropensity: float64(k%100) / 100, ChurnRisk: float64(k%7) / 7, ScoredAt: now},
				Segments:   []string{"all"}})
		}
		if err := s.ImportCustomers(context.Background(), cs, now); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkLaunch measures audience selection, the split, offers, content and the
// transactional write of audience and outbox: one full launch per iteration.
func benchmarkLaunch(b *testing.B, cfg store.Config) {
	n := benchUsers(b)
	s := storetest.Open(b, cfg)
	importUsers(b, s, n)
	svc := newService(b, s, campaign.Config{})
	ctx := context.Background()
	b.ResetTimer()
	var messages int64
	for i := range b.N {
		def := &crmv1.Campaign{CampaignId: fmt.Sprintf("bench-%d", i), Name: "bench", Channel: crmv1.Channel_CHANNEL_EMAIL,
			Target:         &crmv1.Target{SegmentIds: []string{"all"}},
			HoldoutPercent: 5,
			Variants:       []*crmv1.Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}},
			Offer: &crmv1.Offer{Type: crmv1.OfferType_OFFER_TYPE_PERSONALISED, MaxPercentOff: 30, ListPriceMinor: 19900,
				FloorPriceMinor: 9900, Currency: "CNY"},
			Content:      &crmv1.Content{Title: "Hi {{.UserID}}", Body: "{{.Offer.PriceMinor}} instead of 19900 with {{.Offer.Coupon}}"},
			FrequencyCap: &crmv1.FrequencyCap{PerDay: 100, PerWeek: 500}}
		if _, err := svc.Create(ctx, def); err != nil {
			b.Fatal(err)
		}
		c, err := svc.Launch(ctx, def.GetCampaignId())
		if err != nil {
			b.Fatal(err)
		}
		messages += c.GetAudienceSize()
	}
	b.ReportMetric(float64(n), "users")
	b.ReportMetric(float64(messages)/b.Elapsed().Seconds(), "audience/s")
}

func BenchmarkLaunchSQLite(b *testing.B) { benchmarkLaunch(b, storetest.SQLite(b)) }
