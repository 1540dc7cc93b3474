// Package campaign is precision marketing: it validates campaign definitions, selects
// their audience (segments ∩ prediction filters ∩ consent for the channel ∩ not
// do-not-contact, minus exclusions and users at their frequency cap), splits it into the
// global control group, the campaign's holdout and the A/B variants, computes each
// user's offer within the floor price and the budget, fills the content templates, and
// launches: the audience, every message (into the outbox) and the campaign's state are
// written in one transaction. It also turns a launched campaign's outcome into a report
// with uplift and significance.
//
// Assignment is deterministic: a user's arm depends only on hashes of their id (and the
// campaign id), so a relaunch after a crash assigns everyone as before and messages
// keep their ids. The global control group is the same users for every campaign and is
// never messaged. Frequency caps count every campaign audience a user was in on the
// channel, control and holdout included: capping only the users who were actually
// messaged would drain the variants of recently messaged users while the control kept
// them, and bias the comparison.
//
// Recommended items are fetched before the launch transaction opens (see prefetch):
// with bounded concurrency, a timeout per call and no items as the fallback, so the
// transaction, which holds the launch lock, never waits on another service.
//
// Schedules: now, at a time, recurring (every occurrence a campaign of its own, see
// schedule.go) or on segment entry (entries queued with the segment change and handled
// by the scheduler, each user once). Frequency caps are rolling windows of 24 hours and
// 7 days per channel. Quiet hours are local to each user (profile trait "timezone",
// else Config.Timezone): a message due inside them gets a due time at their end and
// waits in the outbox until then; nothing is dropped.
//
// A Service is safe for concurrent use; launches are serialised by the store.
package campaign

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/store"
	"github.com/stratahq/strata/services/crm/uplift"
)

// Errors the Service returns besides *InvalidError.
var (
	// ErrNotFound: no campaign with that id.
	ErrNotFound = errors.New("campaign: not found")
	// ErrExists: the id is taken by a different definition.
	ErrExists = errors.New("campaign: id already used by another definition")
	// ErrEmptyTarget: nobody would be messaged.
	ErrEmptyTarget = errors.New("campaign: the target is empty: no user would be messaged")
	// ErrState: the campaign's state does not allow the operation.
	ErrState = errors.New("campaign: state does not allow this")
	// ErrInvalidControlPercent: the global control share is outside 1–15 %.
	ErrInvalidControlPercent = errors.New("campaign: control percent must be 1 to 15")
	// ErrInvalidPageToken: the page token was not issued by List.
	ErrInvalidPageToken = errors.New("campaign: invalid page token")
)

// Defaults of Config.
const (
	DefaultControlPercent = 5
	DefaultCapPerDay      = 1
	DefaultCapPerWeek     = 3
)

// Config configures a Service.
type Config struct {
	// ControlPercent is the global control group's share of users, 1 to 15 (default 5).
	ControlPercent int `env:"STRATA_CRM_CONTROL_PERCENT" envDefault:"5"`
	// CapPerDay and CapPerWeek are the default frequency caps per channel (1 and 3).
	CapPerDay  int `env:"STRATA_CRM_CAP_PER_DAY" envDefault:"1"`
	CapPerWeek int `env:"STRATA_CRM_CAP_PER_WEEK" envDefault:"3"`
	// Recommender fills content with recommended items; nil leaves them out.
	Recommender Recommender `env:"-"`
	// RecommendConcurrency bounds the recommendation calls in flight during a launch
	// (8); RecommendTimeout bounds each (200ms), after which the message goes without
	// items.
	RecommendConcurrency int           `env:"STRATA_CRM_RECOMMEND_CONCURRENCY" envDefault:"8"`
	RecommendTimeout     time.Duration `env:"STRATA_CRM_RECOMMEND_TIMEOUT" envDefault:"200ms"`
	// Timezone is the IANA zone of users whose profile names none (UTC when empty).
	Timezone string `env:"STRATA_CRM_TIMEZONE" envDefault:"Asia/Shanghai"`
	// QuietStart and QuietEnd are the default quiet hours, local to each user: messages
	// due from QuietStart:00 to QuietEnd:00 are deferred to QuietEnd:00 (equal: none).
	QuietStart int `env:"STRATA_CRM_QUIET_START" envDefault:"21"`
	QuietEnd   int `env:"STRATA_CRM_QUIET_END" envDefault:"8"`
	// Now is the clock; time.Now when nil.
	Now    func() time.Time `env:"-"`
	Logger *slog.Logger     `env:"-"`
}

// withDefaults fills zero values.
func (c Config) withDefaults() Config {
	if c.ControlPercent == 0 {
		c.ControlPercent = DefaultControlPercent
	}
	if c.CapPerDay == 0 {
		c.CapPerDay = DefaultCapPerDay
	}
	if c.CapPerWeek == 0 {
		c.CapPerWeek = DefaultCapPerWeek
	}
	if c.RecommendConcurrency <= 0 {
		c.RecommendConcurrency = DefaultRecommendConcurrency
	}
	if c.RecommendTimeout <= 0 {
		c.RecommendTimeout = DefaultRecommendTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports configuration errors; zero values take the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.ControlPercent < 1 || c.ControlPercent > 15 {
		return fmt.Errorf("%w (got %d)", ErrInvalidControlPercent, c.ControlPercent)
	}
	if c.CapPerDay < 0 || c.CapPerWeek < 0 {
		return errors.New("campaign: frequency caps must not be negative")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return fmt.Errorf("campaign: time zone %q: %w", c.Timezone, err)
	}
	return Quiet{Start: c.QuietStart, End: c.QuietEnd}.validate()
}

// Store is what the Service needs of the repository; *store.Store implements it.
type Store interface {
	CreateCampaign(ctx context.Context, c store.Campaign) error
	Campaign(ctx context.Context, id string) (store.Campaign, error)
	Campaigns(ctx context.Context, limit int, after store.Cursor) ([]store.Campaign, error)
	SetCampaignState(ctx context.Context, id string, from []string, to string, scheduledAt, now time.Time) (store.Campaign, error)
	DueCampaigns(ctx context.Context, now time.Time) ([]string, error)
	Candidates(ctx context.Context, q store.TargetQuery) ([]store.Candidate, error)
	Launch(ctx context.Context, id string, now time.Time, plan store.Planner) (store.Campaign, error)
	ArmStats(ctx context.Context, q store.ArmQuery) ([]store.ArmStats, error)
	Activate(ctx context.Context, id string, next, now time.Time) (store.Campaign, error)
	Advance(ctx context.Context, id string, run int, next, now time.Time) (bool, error)
	CompleteExpired(ctx context.Context, now time.Time) error
	SegmentEntries(ctx context.Context, limit int) ([]store.SegmentEntry, error)
	DeleteSegmentEntries(ctx context.Context, es []store.SegmentEntry) error
	TriggeredCampaigns(ctx context.Context, segmentID string) ([]store.Campaign, error)
	AddToAudience(ctx context.Context, id string, now time.Time, plan store.Planner) (int, error)
}

// Service manages campaigns.
type Service struct {
	store    Store
	cfg      Config
	launched func()
	loc      *time.Location
	wake     chan struct{}
}

// WakeScheduler makes RunScheduler run at once (a segment entry arrived); it never
// blocks.
func (s *Service) WakeScheduler() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// New returns a Service. onLaunch, when not nil, is called after every launch (to wake
// the outbox relay).
func New(s Store, cfg Config, onLaunch func()) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if onLaunch == nil {
		onLaunch = func() {}
	}
	cfg = cfg.withDefaults()
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("campaign: time zone: %w", err)
	}
	return &Service{store: s, cfg: cfg, launched: onLaunch, loc: loc, wake: make(chan struct{}, 1)}, nil
}

// ControlPercent is the global control share in force.
func (s *Service) ControlPercent() int { return s.cfg.ControlPercent }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// definition returns def without its output-only fields, as stored.
func definition(def *crmv1.Campaign) *crmv1.Campaign {
	d := proto.CloneOf(def)
	d.State, d.CreatedAt, d.LaunchedAt, d.AudienceSize, d.ControlPercent = 0, nil, nil, 0, 0
	return d
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "cmp-" + hex.EncodeToString(b[:])
}

// Create validates and stores a draft campaign. Creating the same definition under
// the same id again returns the stored campaign.
func (s *Service) Create(ctx context.Context, def *crmv1.Campaign) (*crmv1.Campaign, error) {
	now := s.now()
	if err := Validate(def, now); err != nil {
		return nil, err
	}
	d := definition(def)
	if d.CampaignId == "" {
		d.CampaignId = newID()
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("campaign: encode: %w", err)
	}
	rec := store.Campaign{ID: d.CampaignId, Name: d.Name, State: store.StateDraft, Channel: ChannelName(d.Channel),
		Definition: b, CreatedAt: now, UpdatedAt: now}
	if sc := d.GetSchedule(); sc.GetType() == crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY {
		rec.TriggerSegment = sc.GetTriggerSegmentId()
	}
	if u := d.GetSchedule().GetUntil(); u != nil {
		rec.Until = u.AsTime()
	}
	err = s.store.CreateCampaign(ctx, rec)
	if errors.Is(err, store.ErrExists) {
		old, gerr := s.store.Campaign(ctx, d.CampaignId)
		if gerr != nil {
			return nil, fmt.Errorf("campaign: %w", gerr)
		}
		prev, derr := decode(old)
		if derr != nil {
			return nil, derr
		}
		if !proto.Equal(definition(prev), d) {
			return nil, fmt.Errorf("%w: %s", ErrExists, d.CampaignId)
		}
		return prev, nil
	}
	if err != nil {
		return nil, fmt.Errorf("campaign: create: %w", err)
	}
	return decode(rec)
}

// decode turns a stored campaign into the API's.
func decode(rec store.Campaign) (*crmv1.Campaign, error) {
	var c crmv1.Campaign
	if err := proto.Unmarshal(rec.Definition, &c); err != nil {
		return nil, fmt.Errorf("campaign %s: decode definition: %w", rec.ID, err)
	}
	c.CampaignId = rec.ID
	c.State = stateOf(rec.State)
	c.CreatedAt = timestamppb.New(rec.CreatedAt)
	if !rec.LaunchedAt.IsZero() {
		c.LaunchedAt = timestamppb.New(rec.LaunchedAt)
	}
	c.AudienceSize, c.ControlPercent = rec.AudienceSize, int32(rec.ControlPercent)
	c.Runs, c.ParentCampaignId = int32(rec.Runs), rec.ParentID
	if rec.State == store.StateActive && !rec.ScheduledAt.IsZero() {
		c.NextRunAt = timestamppb.New(rec.ScheduledAt)
	}
	return &c, nil
}

func stateOf(s string) crmv1.CampaignState {
	switch s {
	case store.StateDraft:
		return crmv1.CampaignState_CAMPAIGN_STATE_DRAFT
	case store.StateScheduled:
		return crmv1.CampaignState_CAMPAIGN_STATE_SCHEDULED
	case store.StateLaunched:
		return crmv1.CampaignState_CAMPAIGN_STATE_LAUNCHED
	case store.StateCancelled:
		return crmv1.CampaignState_CAMPAIGN_STATE_CANCELLED
	case store.StateActive:
		return crmv1.CampaignState_CAMPAIGN_STATE_ACTIVE
	case store.StateCompleted:
		return crmv1.CampaignState_CAMPAIGN_STATE_COMPLETED
	}
	return crmv1.CampaignState_CAMPAIGN_STATE_UNSPECIFIED
}

func (s *Service) get(ctx context.Context, id string) (store.Campaign, *crmv1.Campaign, error) {
	rec, err := s.store.Campaign(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Campaign{}, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return store.Campaign{}, nil, fmt.Errorf("campaign: %w", err)
	}
	c, err := decode(rec)
	return rec, c, err
}

// Get returns a campaign.
func (s *Service) Get(ctx context.Context, id string) (*crmv1.Campaign, error) {
	_, c, err := s.get(ctx, id)
	return c, err
}

// List returns up to pageSize campaigns, newest first, after the page token, and the
// token of the next page ("" at the end).
func (s *Service) List(ctx context.Context, pageSize int, token string) ([]*crmv1.Campaign, string, error) {
	if pageSize <= 0 {
		pageSize = 50
	}
	var cur store.Cursor
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		us, id, ok := strings.Cut(string(raw), "/")
		n, perr := strconv.ParseInt(us, 10, 64)
		if err != nil || !ok || perr != nil || id == "" {
			return nil, "", ErrInvalidPageToken
		}
		cur = store.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}
	}
	recs, err := s.store.Campaigns(ctx, pageSize+1, cur)
	if err != nil {
		return nil, "", fmt.Errorf("campaign: list: %w", err)
	}
	next := ""
	if len(recs) > pageSize {
		recs = recs[:pageSize]
		last := recs[len(recs)-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.CreatedAt.UnixMicro(), 10) + "/" + last.ID))
	}
	out := make([]*crmv1.Campaign, 0, len(recs))
	for _, r := range recs {
		c, err := decode(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, next, nil
}

func (s *Service) planner(rec store.Campaign, def *crmv1.Campaign, now time.Time) (*planner, error) {
	p, err := newPlanner(rec.ID, def, s.cfg.ControlPercent, caps{perDay: s.cfg.CapPerDay, perWeek: s.cfg.CapPerWeek}, now, s.cfg.Recommender)
	if err != nil {
		return nil, err
	}
	p.quiet = quietOf(def, Quiet{Start: s.cfg.QuietStart, End: s.cfg.QuietEnd})
	p.zones = &zones{fallback: s.loc, cache: map[string]*time.Location{}}
	return p, nil
}

// Preview evaluates a campaign's target now, without writing anything.
func (s *Service) Preview(ctx context.Context, id string) (Preview, error) {
	rec, def, err := s.get(ctx, id)
	if err != nil {
		return Preview{}, err
	}
	p, err := s.planner(rec, def, s.now())
	if err != nil {
		return Preview{}, err
	}
	cands, err := s.store.Candidates(ctx, p.query())
	if err != nil {
		return Preview{}, fmt.Errorf("campaign: preview: %w", err)
	}
	pv, _ := p.split(cands)
	return pv, nil
}

// Launch launches a draft campaign now, or schedules it when its schedule says AT; a
// scheduled campaign whose time has come launches. Launching a launched campaign
// returns it unchanged and sends nothing. An empty target is ErrEmptyTarget and leaves
// the campaign as it was.
func (s *Service) Launch(ctx context.Context, id string) (*crmv1.Campaign, error) {
	rec, def, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch def.GetSchedule().GetType() {
	case crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING, crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY:
		return s.activate(ctx, rec, def, now)
	}
	if at := def.GetSchedule().GetAt().AsTime(); def.GetSchedule().GetType() == crmv1.ScheduleType_SCHEDULE_TYPE_AT && at.After(now) {
		switch rec.State {
		case store.StateScheduled:
			return def, nil
		case store.StateDraft:
			// The target is checked now too: an empty one is reported before launch.
			if _, err := s.checkTarget(ctx, rec, def, now); err != nil {
				return nil, err
			}
			upd, err := s.store.SetCampaignState(ctx, id, []string{store.StateDraft}, store.StateScheduled, at, now)
			if err != nil {
				return nil, s.stateErr(err)
			}
			return decode(upd)
		}
	}
	return s.launchNow(ctx, rec, def, now)
}

func (s *Service) checkTarget(ctx context.Context, rec store.Campaign, def *crmv1.Campaign, now time.Time) (Preview, error) {
	p, err := s.planner(rec, def, now)
	if err != nil {
		return Preview{}, err
	}
	cands, err := s.store.Candidates(ctx, p.query())
	if err != nil {
		return Preview{}, fmt.Errorf("campaign: target: %w", err)
	}
	pv, _ := p.split(cands)
	if pv.TreatedTotal() == 0 {
		return pv, ErrEmptyTarget
	}
	return pv, nil
}

func (s *Service) launchNow(ctx context.Context, rec store.Campaign, def *crmv1.Campaign, now time.Time) (*crmv1.Campaign, error) {
	p, err := s.planner(rec, def, now)
	if err != nil {
		return nil, err
	}
	items := prefetched{}
	if p.wantsItems() {
		// The target is read once outside the transaction to know whom to ask for
		// items; the transaction reads it again under the launch lock, which is what
		// frequency caps need.
		cands, err := s.store.Candidates(ctx, p.query())
		if err != nil {
			return nil, fmt.Errorf("campaign: target: %w", err)
		}
		pv, users := p.split(cands)
		if pv.TreatedTotal() == 0 {
			return nil, ErrEmptyTarget
		}
		var failed int64
		items, failed, err = p.prefetch(ctx, users, s.cfg.RecommendConcurrency, s.cfg.RecommendTimeout)
		if err != nil {
			return nil, fmt.Errorf("campaign: launch %s abandoned while fetching recommendations: %w", rec.ID, err)
		}
		if failed > 0 {
			s.cfg.Logger.WarnContext(ctx, "recommendations unavailable for some users, sent without items",
				"campaign_id", rec.ID, "users", failed)
		}
	}
	out, err := s.store.Launch(ctx, rec.ID, now, func(ctx context.Context, _ store.Campaign, cands func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		got, err := cands(p.query())
		if err != nil {
			return store.LaunchPlan{}, err
		}
		pv, users := p.split(got)
		if pv.TreatedTotal() == 0 {
			return store.LaunchPlan{}, ErrEmptyTarget
		}
		return p.build(users, items)
	})
	switch {
	case errors.Is(err, store.ErrAlreadyLaunched):
		return decode(out)
	case errors.Is(err, ErrEmptyTarget), errors.Is(err, store.ErrEmptyAudience):
		return nil, ErrEmptyTarget
	case err != nil:
		return nil, s.stateErr(err)
	}
	s.cfg.Logger.InfoContext(ctx, "campaign launched", "campaign_id", rec.ID, "audience", out.AudienceSize)
	s.launched()
	return decode(out)
}

func (s *Service) stateErr(err error) error {
	switch {
	case errors.Is(err, store.ErrState):
		return fmt.Errorf("%w: %v", ErrState, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return fmt.Errorf("campaign: %w", err)
}

// Cancel cancels a draft, scheduled or active campaign: an active one stops recurring or
// taking segment entries; what it launched stays.
func (s *Service) Cancel(ctx context.Context, id string) (*crmv1.Campaign, error) {
	rec, err := s.store.SetCampaignState(ctx, id, []string{store.StateDraft, store.StateScheduled, store.StateActive}, store.StateCancelled, time.Time{}, s.now())
	if err != nil {
		return nil, s.stateErr(err)
	}
	return decode(rec)
}

// LaunchDue launches the scheduled campaigns whose time has come. A campaign that fails
// (an empty target) is logged and cancelled; other errors are returned after trying
// every due campaign.
func (s *Service) LaunchDue(ctx context.Context) error {
	ids, err := s.store.DueCampaigns(ctx, s.now())
	if err != nil {
		return fmt.Errorf("campaign: due campaigns: %w", err)
	}
	var errs []error
	for _, id := range ids {
		rec, def, err := s.get(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.State == store.StateActive {
			if err := s.runOccurrence(ctx, rec, def); err != nil {
				errs = append(errs, fmt.Errorf("occurrence of %s: %w", id, err))
			}
			continue
		}
		_, err = s.Launch(ctx, id)
		switch {
		case err == nil:
		case errors.Is(err, ErrEmptyTarget):
			s.cfg.Logger.WarnContext(ctx, "scheduled campaign has an empty target, cancelled", "campaign_id", id)
			if _, cerr := s.Cancel(ctx, id); cerr != nil {
				errs = append(errs, cerr)
			}
		default:
			errs = append(errs, fmt.Errorf("launch %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// RunScheduler launches due campaigns and occurrences, and messages segment entries,
// every interval (and when woken by WakeScheduler) until ctx is done.
func (s *Service) RunScheduler(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.LaunchDue(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.ErrorContext(ctx, "scheduled launches failed", "error", err)
		}
		if err := s.HandleSegmentEntries(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.ErrorContext(ctx, "segment-entry campaigns failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Report measures a launched campaign: each variant against the control group (the
// global control members and the holdout together: neither was messaged).
func (s *Service) Report(ctx context.Context, id string) (*crmv1.CampaignReport, error) {
	rec, def, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.State != store.StateLaunched && (rec.TriggerSegment == "" || rec.LaunchedAt.IsZero()) {
		return nil, fmt.Errorf("%w: campaign %s is %s, not launched", ErrState, id, rec.State)
	}
	goal := def.GetGoal().GetEvent()
	if goal == "" {
		goal = DefaultGoal
	}
	hours := def.GetGoal().GetWindowHours()
	if hours == 0 {
		hours = DefaultWindowHours
	}
	window := time.Duration(hours) * time.Hour
	cur := reportCurrency(def)
	stats, err := s.store.ArmStats(ctx, store.ArmQuery{CampaignID: id, Goal: goal, Window: window, Currency: cur, Coupon: CouponCode(id, def)})
	if err != nil {
		return nil, fmt.Errorf("campaign: report: %w", err)
	}
	control := uplift.Counts{Name: ArmControl}
	byArm := map[string]uplift.Counts{}
	for _, a := range stats {
		c := uplift.Counts{Name: a.Arm, Audience: a.Audience, Sends: a.Sends, Delivered: a.Delivered, Opened: a.Opened,
			Clicked: a.Clicked, Conversions: a.Conversions, RevenueMinor: a.RevenueMinor, DiscountMinor: a.DiscountMinor}
		if a.Arm == ArmControl || a.Arm == ArmHoldout {
			control.Audience += c.Audience
			control.Conversions += c.Conversions
			control.RevenueMinor += c.RevenueMinor
			continue
		}
		byArm[a.Arm] = c
	}
	now := s.now()
	r := &crmv1.CampaignReport{CampaignId: id, GoalEvent: goal, WindowHours: hours, Currency: cur,
		LaunchedAt: timestamppb.New(rec.LaunchedAt), ComputedAt: timestamppb.New(now),
		WindowClosed: !now.Before(rec.LaunchedAt.Add(window)),
		Control:      armReport(uplift.Result{Counts: control, Rate: control.Rate()}, false)}
	vs, err := variantsOf(def)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		c := byArm[v.name]
		c.Name = v.name
		r.Variants = append(r.Variants, armReport(uplift.Evaluate(c, control), true))
	}
	return r, nil
}

// reportCurrency is the currency a report sums revenue in: the offer's, or CNY.
func reportCurrency(def *crmv1.Campaign) string {
	if c := def.GetOffer().GetCurrency(); c != "" {
		return c
	}
	for _, v := range def.GetVariants() {
		if c := v.GetOffer().GetCurrency(); c != "" {
			return c
		}
	}
	return "CNY"
}

func armReport(r uplift.Result, compared bool) *crmv1.ArmReport {
	a := &crmv1.ArmReport{Name: r.Name, Audience: r.Audience, Sends: r.Sends, Delivered: r.Delivered, Opened: r.Opened,
		Clicked: r.Clicked, Conversions: r.Conversions, ConversionRate: r.Rate, RevenueMinor: r.RevenueMinor,
		DiscountCostMinor: r.DiscountMinor}
	if compared {
		a.IncrementalConversions, a.IncrementalRevenueMinor = r.IncrementalConversions, r.IncrementalRevenueMinor
		a.UpliftPercent, a.Z, a.PValue, a.CiLow, a.CiHigh = r.UpliftPercent, r.Z, r.PValue, r.CILow, r.CIHigh
		a.NetIncrementalRevenueMinor = r.NetIncrementalRevenueMinor
	}
	return a
}
