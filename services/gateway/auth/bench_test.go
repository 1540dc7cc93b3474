package auth

import (
	"testing"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/gateway/ratelimit"
)

// BenchmarkGuardAdmit measures what the guard adds to a client call: a cached key
// lookup, a token from the key's bucket and the scope and user checks.
func BenchmarkGuardAdmit(b *testing.B) {
	store := newBenchKeys(b)
	_, secret, err := store.Create(b.Context(), &gatewayv1.CreateKeyRequest{
		Name: "app", UserId: "u1", Scopes: []gatewayv1.Scope{gatewayv1.Scope_SCOPE_RECOMMEND},
	})
	if err != nil {
		b.Fatal(err)
	}
	g := NewGuard(store, ratelimit.New(ratelimit.Limit{PerSecond: 1e12, Burst: 1 << 30}), &recorder{}, nil)
	ctx := withAuth(b.Context(), "Bearer "+secret)
	req := &recommendationv1.RecommendRequest{UserId: "u1"}
	const method = "/strata.recommendation.v1.RecommendationService/Recommend"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, finish, err := g.Admit(ctx, method, req)
			if err != nil {
				b.Error(err)
				return
			}
			finish(nil, nil)
		}
	})
}
