// Package api serves CRMService over gRPC (and, through the gateway's grpc-gateway,
// REST): it turns requests into calls on the store, the campaign service, the
// satisfaction reports and the revenue service, and maps their errors to gRPC codes at
// this edge only —
// invalid definitions to InvalidArgument with field violations, unknown ids to
// NotFound, an empty target or a wrong state to FailedPrecondition. A Server is safe
// for concurrent use.
package api

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/rpcerr"
	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/revenue"
	"github.com/stratahq/strata/services/crm/satisfaction"
	"github.com/stratahq/strata/services/crm/store"
)

// Customers is what the API reads and writes of customers; *store.Store implements it.
type Customers interface {
	Customer(ctx context.Context, userID string, limit int) (store.Customer, error)
	SetDoNotContact(ctx context.Context, userID string, dnc bool, reason string, at time.Time) error
	Tasks(ctx context.Context, openOnly bool, limit int) ([]store.Task, error)
	ErasureReceipts(ctx context.Context, requestID string) ([]store.ErasureReceipt, error)
	satisfaction.Reader
}

// ErasureServices are the services that hold personal data, in name order: an erasure
// is complete once each has published its receipt.
var ErasureServices = []string{"crm", "ingest", "prediction", "profile", "recommendation"}

// Server implements crmv1.CRMServiceServer.
type Server struct {
	crmv1.UnimplementedCRMServiceServer
	customers Customers
	campaigns *campaign.Service
	revenue   *revenue.Service
	log       *slog.Logger
}

// New returns a Server.
func New(customers Customers, campaigns *campaign.Service, rev *revenue.Service, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{customers: customers, campaigns: campaigns, revenue: rev, log: log}
}

// toStatus maps domain errors to gRPC status errors.
func (s *Server) toStatus(ctx context.Context, err error) error {
	var inv *campaign.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		vs := make([]rpcerr.FieldViolation, len(inv.Violations))
		for i, v := range inv.Violations {
			vs[i] = rpcerr.FieldViolation{Field: v.Field, Description: v.Description}
		}
		return rpcerr.InvalidArgument(vs...)
	case errors.Is(err, campaign.ErrInvalidPageToken):
		return rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "page_token", Description: "not a token this API issued"})
	case errors.Is(err, campaign.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, campaign.ErrExists), errors.Is(err, revenue.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, campaign.ErrEmptyTarget):
		st, derr := status.New(codes.FailedPrecondition, err.Error()).WithDetails(&errdetails.PreconditionFailure{
			Violations: []*errdetails.PreconditionFailure_Violation{{Type: "EMPTY_TARGET", Subject: "campaign.target",
				Description: "no user passes the target, consent, do-not-contact, exclusion and frequency rules"}}})
		if derr != nil {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		return st.Err()
	case errors.Is(err, campaign.ErrState):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	s.log.ErrorContext(ctx, "crm request failed", "error", err)
	return status.Error(codes.Internal, "internal error")
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// GetErasureStatus reports which services have carried out an erasure request, from
// their receipts; NotFound while none has.
func (s *Server) GetErasureStatus(ctx context.Context, req *crmv1.GetErasureStatusRequest) (*crmv1.ErasureStatus, error) {
	receipts, err := s.customers.ErasureReceipts(ctx, req.GetRequestId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if len(receipts) == 0 {
		return nil, status.Errorf(codes.NotFound, "no service has reported on erasure request %q", req.GetRequestId())
	}
	out := &crmv1.ErasureStatus{RequestId: req.GetRequestId(), UserId: receipts[0].UserID}
	reported := map[string]bool{}
	for _, r := range receipts {
		reported[r.Service] = true
		out.Receipts = append(out.Receipts, &privacyv1.ErasureReceipt{RequestId: r.RequestID, UserId: r.UserID, Service: r.Service,
			CompletedAt: ts(r.CompletedAt), Items: r.Items})
	}
	for _, svc := range ErasureServices {
		if !reported[svc] {
			out.Missing = append(out.Missing, svc)
		}
	}
	out.Complete = len(out.Missing) == 0
	return out, nil
}

// GetCustomer returns the 360 view of a customer.
func (s *Server) GetCustomer(ctx context.Context, req *crmv1.GetCustomerRequest) (*crmv1.Customer, error) {
	limit := int(req.GetInteractionsLimit())
	if limit <= 0 {
		limit = 50
	}
	c, err := s.customers.Customer(ctx, req.GetUserId(), limit)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &crmv1.Customer{
		UserId: c.UserID, Orders: c.OrderCount, RevenueMinor: c.RevenueMinor - c.RefundedMinor, Currency: c.Currency,
		Segments: c.Segments, LastInteraction: ts(c.LastInteraction), FirstSeen: ts(c.FirstSeen),
		Refunds: c.Refunds, RefundedMinor: c.RefundedMinor, DoNotContact: c.DoNotContact, Consent: c.Consent,
	}
	if c.Profile != nil {
		p := &profilev1.Profile{}
		if err := proto.Unmarshal(c.Profile, p); err == nil {
			out.Profile = p
		}
	}
	if c.Prediction != nil {
		p := &predictionv1.Prediction{}
		if err := proto.Unmarshal(c.Prediction, p); err == nil {
			out.Prediction = p
		}
	}
	for _, i := range c.Interactions {
		out.Interactions = append(out.Interactions, &crmv1.Interaction{EventId: i.EventID, Event: i.Event, Kind: i.Kind,
			OccurredAt: ts(i.At), ItemId: i.ItemID, OrderId: i.OrderID, AmountMinor: i.AmountMinor, Currency: i.Currency,
			Value: i.Measure, CampaignId: i.CampaignID, MessageId: i.MessageID, TicketId: i.TicketID})
	}
	for _, o := range c.Orders {
		po := &crmv1.Order{OrderId: o.OrderID, CompletedAt: ts(o.At), RevenueMinor: o.RevenueMinor, DiscountMinor: o.DiscountMinor,
			Currency: o.Currency, Coupon: o.Coupon, RefundedMinor: o.RefundedMinor}
		for _, it := range o.Items {
			po.ItemIds = append(po.ItemIds, it.ItemID)
		}
		out.RecentOrders = append(out.RecentOrders, po)
	}
	for _, f := range c.Feedback {
		out.Satisfaction = append(out.Satisfaction, &crmv1.SatisfactionAnswer{EventId: f.EventID, Metric: f.Metric,
			Score: int32(f.Score), AnsweredAt: ts(f.At), ItemId: f.ItemID})
	}
	for _, ct := range c.Campaigns {
		out.Campaigns = append(out.Campaigns, &crmv1.CampaignTouch{CampaignId: ct.CampaignID, Arm: ct.Arm, MessageId: ct.MessageID, At: ts(ct.At)})
	}
	for _, t := range c.OpenTasks {
		out.OpenTasks = append(out.OpenTasks, task(t))
	}
	return out, nil
}

func task(t store.Task) *crmv1.FollowUpTask {
	return &crmv1.FollowUpTask{TaskId: t.TaskID, UserId: t.UserID, Reason: t.Reason, Score: int32(t.Score),
		SourceEventId: t.SourceEventID, Status: t.Status, CreatedAt: ts(t.CreatedAt)}
}

// SetDoNotContact updates the do-not-contact list.
func (s *Server) SetDoNotContact(ctx context.Context, req *crmv1.SetDoNotContactRequest) (*crmv1.SetDoNotContactResponse, error) {
	if err := s.customers.SetDoNotContact(ctx, req.GetUserId(), req.GetDoNotContact(), req.GetReason(), time.Now()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &crmv1.SetDoNotContactResponse{}, nil
}

// CreateCampaign creates a draft campaign.
func (s *Server) CreateCampaign(ctx context.Context, req *crmv1.CreateCampaignRequest) (*crmv1.Campaign, error) {
	c, err := s.campaigns.Create(ctx, req.GetCampaign())
	return c, s.toStatus(ctx, err)
}

// GetCampaign returns a campaign.
func (s *Server) GetCampaign(ctx context.Context, req *crmv1.GetCampaignRequest) (*crmv1.Campaign, error) {
	c, err := s.campaigns.Get(ctx, req.GetCampaignId())
	return c, s.toStatus(ctx, err)
}

// ListCampaigns lists campaigns, newest first.
func (s *Server) ListCampaigns(ctx context.Context, req *crmv1.ListCampaignsRequest) (*crmv1.ListCampaignsResponse, error) {
	cs, next, err := s.campaigns.List(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &crmv1.ListCampaignsResponse{Campaigns: cs, NextPageToken: next}, nil
}

// PreviewAudience counts a campaign's target rule by rule.
func (s *Server) PreviewAudience(ctx context.Context, req *crmv1.PreviewAudienceRequest) (*crmv1.AudiencePreview, error) {
	pv, err := s.campaigns.Preview(ctx, req.GetCampaignId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &crmv1.AudiencePreview{CampaignId: req.GetCampaignId(), Candidates: pv.Candidates, Excluded: pv.Excluded,
		WithoutConsent: pv.WithoutConsent, DoNotContact: pv.DoNotContact, FrequencyCapped: pv.Capped, Eligible: pv.Eligible,
		Control: pv.Control, Holdout: pv.Holdout, Treated: pv.Treated, Empty: pv.TreatedTotal() == 0}, nil
}

// LaunchCampaign launches (or schedules) a campaign.
func (s *Server) LaunchCampaign(ctx context.Context, req *crmv1.LaunchCampaignRequest) (*crmv1.Campaign, error) {
	c, err := s.campaigns.Launch(ctx, req.GetCampaignId())
	return c, s.toStatus(ctx, err)
}

// CancelCampaign cancels a draft or scheduled campaign.
func (s *Server) CancelCampaign(ctx context.Context, req *crmv1.CancelCampaignRequest) (*crmv1.Campaign, error) {
	c, err := s.campaigns.Cancel(ctx, req.GetCampaignId())
	return c, s.toStatus(ctx, err)
}

// GetCampaignReport returns a launched campaign's outcome.
func (s *Server) GetCampaignReport(ctx context.Context, req *crmv1.GetCampaignReportRequest) (*crmv1.CampaignReport, error) {
	r, err := s.campaigns.Report(ctx, req.GetCampaignId())
	return r, s.toStatus(ctx, err)
}

// GetSatisfactionReport returns satisfaction scores grouped by a dimension.
func (s *Server) GetSatisfactionReport(ctx context.Context, req *crmv1.GetSatisfactionReportRequest) (*crmv1.SatisfactionReport, error) {
	var from, to time.Time
	if req.GetFrom() != nil {
		from = req.GetFrom().AsTime()
	}
	if req.GetTo() != nil {
		to = req.GetTo().AsTime()
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: "to", Description: "must be after from"})
	}
	r, err := satisfaction.Report(ctx, s.customers, req.GetDimension(), from, to)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return r, nil
}

// ListFollowUpTasks lists follow-up tasks, newest first.
func (s *Server) ListFollowUpTasks(ctx context.Context, req *crmv1.ListFollowUpTasksRequest) (*crmv1.ListFollowUpTasksResponse, error) {
	n := int(req.GetPageSize())
	if n <= 0 {
		n = 50
	}
	ts, err := s.customers.Tasks(ctx, req.GetOpenOnly(), n)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &crmv1.ListFollowUpTasksResponse{}
	for _, t := range ts {
		out.Tasks = append(out.Tasks, task(t))
	}
	return out, nil
}

// invalid maps a revenue input error to InvalidArgument naming field.
func (s *Server) invalid(ctx context.Context, err error, field string) error {
	if errors.Is(err, revenue.ErrInvalidMonth) || errors.Is(err, revenue.ErrInvalidRange) || errors.Is(err, revenue.ErrInvalidRule) {
		return rpcerr.InvalidArgument(rpcerr.FieldViolation{Field: field, Description: err.Error()})
	}
	return s.toStatus(ctx, err)
}

// GetRevenueReport returns the revenue report.
func (s *Server) GetRevenueReport(ctx context.Context, req *crmv1.GetRevenueReportRequest) (*crmv1.RevenueReport, error) {
	r, err := s.revenue.Report(ctx, req.GetDimension(), req.GetFromMonth(), req.GetToMonth(), req.GetCurrency())
	if err != nil {
		field := "from_month"
		if errors.Is(err, revenue.ErrInvalidRange) {
			field = "to_month"
		}
		return nil, s.invalid(ctx, err, field)
	}
	return r, nil
}

// SetRevenueShareRule stores a revenue-share rule.
func (s *Server) SetRevenueShareRule(ctx context.Context, req *crmv1.SetRevenueShareRuleRequest) (*crmv1.RevenueShareRule, error) {
	r, err := s.revenue.SetRule(ctx, req.GetRule())
	if err != nil {
		field := "rule.effective_month"
		if errors.Is(err, revenue.ErrInvalidRule) {
			field = "rule"
			for _, f := range []string{"creator_coupons", "platform_share_bps"} {
				if strings.Contains(err.Error(), f+":") {
					field = "rule." + f
				}
			}
		}
		return nil, s.invalid(ctx, err, field)
	}
	return r, nil
}

// ListRevenueShareRules lists the revenue-share rules.
func (s *Server) ListRevenueShareRules(ctx context.Context, req *crmv1.ListRevenueShareRulesRequest) (*crmv1.ListRevenueShareRulesResponse, error) {
	rs, err := s.revenue.Rules(ctx, req.GetCreatorId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &crmv1.ListRevenueShareRulesResponse{Rules: rs}, nil
}

// GetCreatorStatement returns a creator's monthly statement.
func (s *Server) GetCreatorStatement(ctx context.Context, req *crmv1.GetCreatorStatementRequest) (*crmv1.CreatorStatement, error) {
	st, err := s.revenue.Statement(ctx, req.GetCreatorId(), req.GetMonth(), req.GetCurrency())
	if err != nil {
		return nil, s.invalid(ctx, err, "month")
	}
	return st, nil
}
