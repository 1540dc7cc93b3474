// Package revenue is the CRM's revenue model (收益模型): monthly revenue reports (GMV,
// net revenue after refunds, ARPU, ARPPU, paying ratio, repurchase and churn rates,
// average predicted CLV) by month, segment, RFM tier or acquisition cohort, and creator
// settlement: configurable revenue-share rules and monthly statements with line items.
//
// All money is integer minor units. Splits of an amount (an order's revenue over its
// items, a refund over the items it refunds) use the largest-remainder method, so the
// parts always add up to the whole; shares and fees in basis points round half away
// from zero. The package holds pure functions and a Service over the store; both are
// safe for concurrent use.
package revenue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// Errors.
var (
	// ErrInvalidMonth: a month is not YYYY-MM.
	ErrInvalidMonth = errors.New("revenue: month must be YYYY-MM")
	// ErrInvalidRange: from is after to, or the range is longer than MaxMonths.
	ErrInvalidRange = errors.New("revenue: invalid month range")
	// ErrInvalidRule: a rule is inconsistent (see the message).
	ErrInvalidRule = errors.New("revenue: invalid rule")
	// ErrConflict: another rule has the same creator and month, or a coupon is another
	// creator's.
	ErrConflict = errors.New("revenue: conflicts with another rule")
)

// MaxMonths bounds the months of one report.
const MaxMonths = 60

// DefaultCurrency is the currency of reports and statements that name none.
const DefaultCurrency = "CNY"

// DefaultRule applies when no configured rule covers a creator and month: a 70 % share
// of sales the creator drove, 50 % of the others, no platform fee, refunds within 30
// days clawed back.
var DefaultRule = store.RevenueShareRule{RuleID: "builtin-default", OwnShareBps: 7000, PlatformShareBps: 5000, ClawbackDays: 30}

// ParseMonth parses YYYY-MM into YYYYMM.
func ParseMonth(s string) (int, error) {
	y, m, ok := strings.Cut(s, "-")
	yi, err1 := strconv.Atoi(y)
	mi, err2 := strconv.Atoi(m)
	if !ok || len(y) != 4 || len(m) != 2 || err1 != nil || err2 != nil || mi < 1 || mi > 12 {
		return 0, fmt.Errorf("%w: %q", ErrInvalidMonth, s)
	}
	return yi*100 + mi, nil
}

// FormatMonth formats YYYYMM as YYYY-MM.
func FormatMonth(m int) string { return fmt.Sprintf("%04d-%02d", m/100, m%100) }

// Allocate splits amount over parts proportionally to weights (all zero: equally) by
// the largest-remainder method: the parts add up to amount exactly, and ties go to
// the earlier part.
func Allocate(amount int64, weights []int64) []int64 {
	out := make([]int64, len(weights))
	if len(weights) == 0 {
		return out
	}
	var total int64
	for _, w := range weights {
		total += max(0, w)
	}
	w := func(i int) int64 {
		if total == 0 {
			return 1
		}
		return max(0, weights[i])
	}
	if total == 0 {
		total = int64(len(weights))
	}
	sign := int64(1)
	if amount < 0 {
		sign, amount = -1, -amount
	}
	rems := make([]float64, len(weights))
	var given int64
	for i := range weights {
		exact := float64(amount) * float64(w(i)) / float64(total)
		out[i] = int64(math.Floor(exact))
		rems[i] = exact - float64(out[i])
		given += out[i]
	}
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rems[a] > rems[b]:
			return -1
		case rems[a] < rems[b]:
			return 1
		}
		return 0
	})
	for k := 0; given < amount; k = (k + 1) % len(order) {
		out[order[k]]++
		given++
	}
	for i := range out {
		out[i] *= sign
	}
	return out
}

// Bps returns amount·bps/10000 rounded half away from zero.
func Bps(amount int64, bps int) int64 {
	p := amount * int64(bps)
	if p >= 0 {
		return (p + 5000) / 10000
	}
	return -((-p + 5000) / 10000)
}

// RuleFor returns the rule in force for a creator in a month (YYYYMM): the creator's
// latest rule effective by then, else the latest default rule (creator ""), else
// DefaultRule.
func RuleFor(rules []store.RevenueShareRule, creatorID string, month int) store.RevenueShareRule {
	var own, def *store.RevenueShareRule
	for i := range rules {
		r := &rules[i]
		if r.EffectiveMonth > month {
			continue
		}
		switch r.CreatorID {
		case creatorID:
			if own == nil || r.EffectiveMonth > own.EffectiveMonth {
				own = r
			}
		case "":
			if def == nil || r.EffectiveMonth > def.EffectiveMonth {
				def = r
			}
		}
	}
	switch {
	case own != nil:
		return *own
	case def != nil:
		return *def
	}
	return DefaultRule
}

// Statement computes a creator's statement for a month from their activity. A sale line
// is the creator's item's part of an order's revenue (split over the order's items by
// list price), under the rule in force in the month of the sale; the sale is the
// creator's own when the order used one of their coupons or came through their link. A
// refund made within the rule's clawback window of the sale takes back the creator's
// part of the refunded amount (split like the revenue); later refunds are the
// platform's loss.
func Statement(creatorID string, month int, currency string, act store.CreatorActivity, rules []store.RevenueShareRule) *crmv1.CreatorStatement {
	st := &crmv1.CreatorStatement{CreatorId: creatorID, Month: FormatMonth(month), Currency: currency}
	for _, o := range act.Sales {
		rule := RuleFor(rules, creatorID, store.Month(o.At))
		channel, share := channelOf(o, creatorID, act.Coupons, rule)
		parts := Allocate(o.RevenueMinor, weightsOf(o))
		for k, it := range o.Items {
			if o.Creators[k] != creatorID {
				continue
			}
			fee := Bps(parts[k], rule.PlatformFeeBps)
			amount := Bps(parts[k]-fee, share)
			st.Lines = append(st.Lines, &crmv1.StatementLine{Kind: "sale", OrderId: o.OrderID, ItemId: it.ItemID, At: timestamppb.New(o.At),
				Channel: channel, RuleId: rule.RuleID, GrossMinor: parts[k], FeeMinor: fee, ShareBps: int32(share), CreatorAmountMinor: amount})
			st.GrossSalesMinor += parts[k]
			st.PlatformFeesMinor += fee
			st.CreatorEarningsMinor += amount
		}
	}
	for _, r := range act.Refunds {
		o := r.Order
		rule := RuleFor(rules, creatorID, store.Month(o.At))
		if r.At.Sub(o.At) > time.Duration(rule.ClawbackDays)*24*time.Hour {
			continue
		}
		channel, share := channelOf(o, creatorID, act.Coupons, rule)
		refunded := Allocate(r.AmountMinor, Allocate(o.RevenueMinor, weightsOf(o)))
		for k, it := range o.Items {
			if o.Creators[k] != creatorID || refunded[k] == 0 {
				continue
			}
			fee := Bps(refunded[k], rule.PlatformFeeBps)
			amount := Bps(refunded[k]-fee, share)
			st.Lines = append(st.Lines, &crmv1.StatementLine{Kind: "clawback", OrderId: o.OrderID, ItemId: it.ItemID, At: timestamppb.New(r.At),
				Channel: channel, RuleId: rule.RuleID, GrossMinor: -refunded[k], FeeMinor: -fee, ShareBps: int32(share), CreatorAmountMinor: -amount})
			st.ClawbacksMinor += amount
		}
	}
	st.PayableMinor = st.CreatorEarningsMinor - st.ClawbacksMinor
	return st
}

func weightsOf(o store.SettlementOrder) []int64 {
	ws := make([]int64, len(o.Items))
	for k, it := range o.Items {
		ws[k] = it.PriceMinor * int64(max(1, it.Quantity))
	}
	return ws
}

func channelOf(o store.SettlementOrder, creatorID string, coupons map[string]bool, rule store.RevenueShareRule) (string, int) {
	if (o.Coupon != "" && coupons[o.Coupon]) || (o.Referrer != "" && o.Referrer == creatorID) {
		return "own", rule.OwnShareBps
	}
	return "platform", rule.PlatformShareBps
}

// Store is what the Service needs; *store.Store implements it.
type Store interface {
	Revenue(ctx context.Context, q store.RevenueQuery) ([]store.RevenueRow, error)
	PutRevenueShareRule(ctx context.Context, r store.RevenueShareRule) error
	RevenueShareRules(ctx context.Context, creatorID string) ([]store.RevenueShareRule, error)
	CreatorActivity(ctx context.Context, creatorID string, month int, currency string) (store.CreatorActivity, error)
}

// Service serves revenue reports, rules and statements.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns a Service; now is the clock (time.Now when nil).
func New(s Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: s, now: now}
}

var dimensions = map[crmv1.RevenueDimension]string{
	crmv1.RevenueDimension_REVENUE_DIMENSION_UNSPECIFIED: store.RevenueByMonth,
	crmv1.RevenueDimension_REVENUE_DIMENSION_MONTH:       store.RevenueByMonth,
	crmv1.RevenueDimension_REVENUE_DIMENSION_SEGMENT:     store.RevenueBySegment,
	crmv1.RevenueDimension_REVENUE_DIMENSION_RFM_TIER:    store.RevenueByRFMTier,
	crmv1.RevenueDimension_REVENUE_DIMENSION_COHORT:      store.RevenueByCohort,
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func perUser(amount, users int64) int64 {
	if users == 0 {
		return 0
	}
	return int64(math.Round(float64(amount) / float64(users)))
}

// Report returns the revenue report for the months from to to (YYYY-MM; to defaults to
// from, from to the current month).
func (s *Service) Report(ctx context.Context, dim crmv1.RevenueDimension, fromMonth, toMonth, currency string) (*crmv1.RevenueReport, error) {
	d, ok := dimensions[dim]
	if !ok {
		return nil, fmt.Errorf("revenue: unknown dimension %v", dim)
	}
	if currency == "" {
		currency = DefaultCurrency
	}
	from, to := store.Month(s.now()), 0
	var err error
	if fromMonth != "" {
		if from, err = ParseMonth(fromMonth); err != nil {
			return nil, err
		}
	}
	to = from
	if toMonth != "" {
		if to, err = ParseMonth(toMonth); err != nil {
			return nil, err
		}
	}
	if span := (to/100-from/100)*12 + to%100 - from%100; span < 0 || span >= MaxMonths {
		return nil, fmt.Errorf("%w: %s to %s (at most %d months)", ErrInvalidRange, FormatMonth(from), FormatMonth(to), MaxMonths)
	}
	rows, err := s.store.Revenue(ctx, store.RevenueQuery{Dimension: d, From: from, To: to, Currency: currency})
	if err != nil {
		return nil, fmt.Errorf("revenue: %w", err)
	}
	if dim == crmv1.RevenueDimension_REVENUE_DIMENSION_UNSPECIFIED {
		dim = crmv1.RevenueDimension_REVENUE_DIMENSION_MONTH
	}
	out := &crmv1.RevenueReport{Dimension: dim, Currency: currency}
	for _, r := range rows {
		key := r.Key
		if d == store.RevenueByCohort {
			if m, err := strconv.Atoi(key); err == nil {
				key = FormatMonth(m)
			}
		}
		net := r.GMVMinor - r.RefundsMinor
		out.Rows = append(out.Rows, &crmv1.RevenueRow{Key: key, Month: FormatMonth(r.Month), GmvMinor: r.GMVMinor, RefundsMinor: r.RefundsMinor,
			NetRevenueMinor: net, ActiveUsers: r.Active, PayingUsers: r.Paying, ArpuMinor: perUser(net, r.Active), ArppuMinor: perUser(net, r.Paying),
			PayingRatio: ratio(r.Paying, r.Active), RepurchaseRate: ratio(r.Returning, r.Paying), ChurnRate: ratio(r.Churned, r.PrevActive),
			AvgClvMinor: int64(math.Round(r.AvgCLVMinor))})
	}
	return out, nil
}

// SetRule validates and stores a rule.
func (s *Service) SetRule(ctx context.Context, r *crmv1.RevenueShareRule) (*crmv1.RevenueShareRule, error) {
	month, err := ParseMonth(r.GetEffectiveMonth())
	if err != nil {
		return nil, err
	}
	if r.GetCreatorId() == "" && len(r.GetCreatorCoupons()) > 0 {
		return nil, fmt.Errorf("%w: creator_coupons: a default rule has no creator to own coupons", ErrInvalidRule)
	}
	if r.GetPlatformShareBps() > r.GetOwnShareBps() {
		return nil, fmt.Errorf("%w: platform_share_bps: a creator's share of platform-driven sales must not exceed the share of their own", ErrInvalidRule)
	}
	rec := store.RevenueShareRule{RuleID: r.GetRuleId(), CreatorID: r.GetCreatorId(), EffectiveMonth: month,
		OwnShareBps: int(r.GetOwnShareBps()), PlatformShareBps: int(r.GetPlatformShareBps()), PlatformFeeBps: int(r.GetPlatformFeeBps()),
		ClawbackDays: int(r.GetClawbackDays()), Coupons: r.GetCreatorCoupons(), UpdatedAt: s.now()}
	if err := s.store.PutRevenueShareRule(ctx, rec); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("%w: %v", ErrConflict, err)
		}
		return nil, fmt.Errorf("revenue: %w", err)
	}
	return ruleOf(rec), nil
}

func ruleOf(r store.RevenueShareRule) *crmv1.RevenueShareRule {
	return &crmv1.RevenueShareRule{RuleId: r.RuleID, CreatorId: r.CreatorID, EffectiveMonth: FormatMonth(r.EffectiveMonth),
		OwnShareBps: int32(r.OwnShareBps), PlatformShareBps: int32(r.PlatformShareBps), PlatformFeeBps: int32(r.PlatformFeeBps),
		ClawbackDays: int32(r.ClawbackDays), CreatorCoupons: r.Coupons, UpdatedAt: timestamppb.New(r.UpdatedAt)}
}

// Rules lists the rules of a creator and the default ones (all rules for "").
func (s *Service) Rules(ctx context.Context, creatorID string) ([]*crmv1.RevenueShareRule, error) {
	rs, err := s.store.RevenueShareRules(ctx, creatorID)
	if err != nil {
		return nil, fmt.Errorf("revenue: %w", err)
	}
	out := make([]*crmv1.RevenueShareRule, len(rs))
	for i, r := range rs {
		out[i] = ruleOf(r)
	}
	return out, nil
}

// Statement returns a creator's statement for a month (YYYY-MM).
func (s *Service) Statement(ctx context.Context, creatorID, month, currency string) (*crmv1.CreatorStatement, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return nil, err
	}
	if currency == "" {
		currency = DefaultCurrency
	}
	act, err := s.store.CreatorActivity(ctx, creatorID, m, currency)
	if err != nil {
		return nil, fmt.Errorf("revenue: %w", err)
	}
	rules, err := s.store.RevenueShareRules(ctx, creatorID)
	if err != nil {
		return nil, fmt.Errorf("revenue: %w", err)
	}
	return Statement(creatorID, m, currency, act, rules), nil
}
