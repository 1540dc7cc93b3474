package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/store"
)

// Recurring campaigns: the campaign itself stays active and never has an audience;
// each occurrence n is a campaign of its own, id + "--r" + n, created and launched like
// a campaign scheduled NOW, so it has its own audience, caps, control split and report.
// The occurrence's id depends only on n, so a crash between launching an occurrence
// and recording it relaunches the same one, which sends nothing twice. Occurrences
// missed while the service was down are skipped, not sent late in a burst.
//
// Segment-entry campaigns: entering users are queued in the transaction that applies
// the segment change (store.Tx.ApplySegmentChange) and handled by the scheduler: each
// is run through the campaign's target, consent, do-not-contact, frequency caps and
// control split like a launch, and added to the audience once (the audience's key is
// the campaign and the user, so a redelivered entry, or a user who leaves and enters
// again, is messaged once).

// OccurrenceID is the id of a recurring campaign's nth occurrence.
func OccurrenceID(campaignID string, n int) string {
	return fmt.Sprintf("%s--r%d", campaignID, n)
}

// entriesBatch is how many queued segment entries one pass handles.
const entriesBatch = 1000

// activate starts a recurring or segment-entry campaign.
func (s *Service) activate(ctx context.Context, rec store.Campaign, def *crmv1.Campaign, now time.Time) (*crmv1.Campaign, error) {
	switch rec.State {
	case store.StateActive, store.StateCompleted:
		return decode(rec)
	case store.StateDraft:
	default:
		return nil, fmt.Errorf("%w: campaign %s is %s", ErrState, rec.ID, rec.State)
	}
	var next time.Time
	if def.GetSchedule().GetType() == crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING {
		next = now
		if at := def.GetSchedule().GetAt(); at != nil && at.AsTime().After(now) {
			next = at.AsTime().UTC()
		}
	}
	upd, err := s.store.Activate(ctx, rec.ID, next, now)
	if err != nil {
		return nil, s.stateErr(err)
	}
	s.cfg.Logger.InfoContext(ctx, "campaign active", "campaign_id", rec.ID, "next_run", next)
	if !next.IsZero() && !next.After(now) {
		if err := s.runOccurrence(ctx, upd, def); err != nil {
			return nil, err
		}
		if upd, err = s.store.Campaign(ctx, rec.ID); err != nil {
			return nil, fmt.Errorf("campaign: %w", err)
		}
	}
	return decode(upd)
}

// runOccurrence launches a recurring campaign's next occurrence and schedules the one
// after. An occurrence with an empty target is cancelled and the schedule goes on.
func (s *Service) runOccurrence(ctx context.Context, parent store.Campaign, def *crmv1.Campaign) error {
	now := s.now()
	run := parent.Runs + 1
	child := proto.CloneOf(definition(def))
	child.CampaignId = OccurrenceID(parent.ID, run)
	child.Schedule = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(child)
	if err != nil {
		return fmt.Errorf("campaign: encode occurrence: %w", err)
	}
	err = s.store.CreateCampaign(ctx, store.Campaign{ID: child.CampaignId, Name: child.Name, State: store.StateDraft,
		Channel: ChannelName(child.Channel), Definition: b, CreatedAt: now, UpdatedAt: now, ParentID: parent.ID})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("campaign: create occurrence: %w", err)
	}
	rec, cdef, err := s.get(ctx, child.CampaignId)
	if err != nil {
		return err
	}
	switch rec.State {
	case store.StateDraft:
		if _, err := s.launchNow(ctx, rec, cdef, now); errors.Is(err, ErrEmptyTarget) {
			s.cfg.Logger.WarnContext(ctx, "occurrence has an empty target, cancelled", "campaign_id", rec.ID)
			if _, err := s.Cancel(ctx, rec.ID); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	case store.StateLaunched, store.StateCancelled:
		// Launched (or given up) before a crash: only the schedule is left to advance.
	default:
		return fmt.Errorf("%w: occurrence %s is %s", ErrState, rec.ID, rec.State)
	}
	next := nextRun(parent.ScheduledAt, time.Duration(def.GetSchedule().GetEveryMinutes())*time.Minute, now)
	if u := def.GetSchedule().GetUntil(); u != nil && next.After(u.AsTime()) {
		next = time.Time{}
	}
	if _, err := s.store.Advance(ctx, parent.ID, run, next, now); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	return nil
}

// nextRun is the first occurrence after now on the grid last + k·every.
func nextRun(last time.Time, every time.Duration, now time.Time) time.Time {
	next := last.Add(every)
	if !next.After(now) {
		k := now.Sub(last)/every + 1
		next = last.Add(k * every)
	}
	return next
}

// HandleSegmentEntries messages the users queued by segment entries for the active
// segment-entry campaigns triggered by them. Entries are removed once every campaign
// took them; on an error they stay and the next pass retries them (nothing is sent
// twice: a user joins a campaign's audience once).
func (s *Service) HandleSegmentEntries(ctx context.Context) error {
	now := s.now()
	if err := s.store.CompleteExpired(ctx, now); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	entries, err := s.store.SegmentEntries(ctx, entriesBatch)
	if err != nil || len(entries) == 0 {
		return err
	}
	bySegment := map[string][]store.SegmentEntry{}
	var order []string
	for _, e := range entries {
		if _, ok := bySegment[e.SegmentID]; !ok {
			order = append(order, e.SegmentID)
		}
		bySegment[e.SegmentID] = append(bySegment[e.SegmentID], e)
	}
	for _, seg := range order {
		camps, err := s.store.TriggeredCampaigns(ctx, seg)
		if err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
		for _, rec := range camps {
			var users []string
			for _, e := range bySegment[seg] {
				// Entries before the campaign started or after its end are not its.
				if !e.At.Before(rec.LaunchedAt) && (rec.Until.IsZero() || !e.At.After(rec.Until)) {
					users = append(users, e.UserID)
				}
			}
			if len(users) == 0 {
				continue
			}
			if err := s.addUsers(ctx, rec, users, now); err != nil {
				return fmt.Errorf("campaign %s: segment entries: %w", rec.ID, err)
			}
		}
	}
	if err := s.store.DeleteSegmentEntries(ctx, entries); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	return nil
}

// addUsers runs users through a segment-entry campaign's rules and messages the
// treated ones, recommendations fetched before the transaction as in a launch.
func (s *Service) addUsers(ctx context.Context, rec store.Campaign, users []string, now time.Time) error {
	def, err := decode(rec)
	if err != nil {
		return err
	}
	p, err := s.planner(rec, def, now)
	if err != nil {
		return err
	}
	q := p.query()
	q.UserIDs = users
	items := prefetched{}
	if p.wantsItems() {
		cands, err := s.store.Candidates(ctx, q)
		if err != nil {
			return fmt.Errorf("campaign: target: %w", err)
		}
		_, assigned := p.split(cands)
		if items, _, err = p.prefetch(ctx, assigned, s.cfg.RecommendConcurrency, s.cfg.RecommendTimeout); err != nil {
			return err
		}
	}
	n, err := s.store.AddToAudience(ctx, rec.ID, now, func(ctx context.Context, _ store.Campaign, cands func(store.TargetQuery) ([]store.Candidate, error)) (store.LaunchPlan, error) {
		got, err := cands(q)
		if err != nil {
			return store.LaunchPlan{}, err
		}
		_, assigned := p.split(got)
		return p.build(assigned, items)
	})
	if err != nil {
		return s.stateErr(err)
	}
	if n > 0 {
		s.cfg.Logger.InfoContext(ctx, "segment entries added to campaign", "campaign_id", rec.ID, "users", n)
		s.launched()
	}
	return nil
}
