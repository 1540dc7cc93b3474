package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/store"
)

// flakyAdvance fails the next Advance: a crash after an occurrence launched and before
// the schedule moved on.
type flakyAdvance struct {
	*store.Store
	fail bool
}

func (f *flakyAdvance) Advance(ctx context.Context, id string, run int, next, now time.Time) (bool, error) {
	if f.fail {
		f.fail = false
		return false, errors.New("crashed before advancing")
	}
	return f.Store.Advance(ctx, id, run, next, now)
}

func TestRecurringCampaign(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 100)
	ctx := context.Background()
	clock := now
	fs := &flakyAdvance{Store: s}
	svc := newService(t, fs, campaign.Config{Now: func() time.Time { return clock }})
	def := basic("daily")
	// Daily at 09:00 from now, until two days and two hours later: three occurrences.
	def.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING, EveryMinutes: 24 * 60,
		Until: timestamppb.New(now.Add(50 * time.Hour))}
	if _, err := svc.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Launch(ctx, "daily")
	if err != nil {
		t.Fatal(err)
	}
	if c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_ACTIVE || c.GetRuns() != 1 || !c.GetNextRunAt().AsTime().Equal(now.Add(24*time.Hour)) {
		t.Fatalf("after launch: got state %v runs %d next %v", c.GetState(), c.GetRuns(), c.GetNextRunAt().AsTime())
	}
	first, _ := s.Messages(ctx, campaign.OccurrenceID("daily", 1))
	if len(first) == 0 {
		t.Fatal("the first occurrence sent nothing")
	}
	// Nothing is due before the next occurrence.
	clock = now.Add(23 * time.Hour)
	if err := svc.LaunchDue(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := svc.Get(ctx, "daily"); c.GetRuns() != 1 {
		t.Errorf("runs before the second occurrence: got %d, want 1", c.GetRuns())
	}
	// The scheduler ticks a minute late; the service crashes once after launching the
	// second occurrence and before recording it: the retry sends nothing twice.
	clock = now.Add(24*time.Hour + time.Minute)
	fs.fail = true
	if err := svc.LaunchDue(ctx); err == nil {
		t.Fatal("LaunchDue with a failing Advance: got nil error")
	}
	second, _ := s.Messages(ctx, campaign.OccurrenceID("daily", 2))
	if err := svc.LaunchDue(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Messages(ctx, campaign.OccurrenceID("daily", 2))
	if len(second) == 0 || len(again) != len(second) {
		t.Errorf("second occurrence: %d messages, %d after the retry; want the same, not none", len(second), len(again))
	}
	clock = now.Add(48*time.Hour + time.Minute)
	if err := svc.LaunchDue(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ = svc.Get(ctx, "daily")
	if c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_COMPLETED || c.GetRuns() != 3 || c.GetNextRunAt() != nil {
		t.Errorf("after the last occurrence: got state %v runs %d next %v, want completed after 3", c.GetState(), c.GetRuns(), c.GetNextRunAt())
	}
	clock = now.Add(72*time.Hour + time.Minute)
	if err := svc.LaunchDue(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Messages(ctx, campaign.OccurrenceID("daily", 4)); len(m) != 0 {
		t.Errorf("an occurrence after until sent %d messages", len(m))
	}
	for n := 1; n <= 3; n++ {
		id := campaign.OccurrenceID("daily", n)
		occ, err := svc.Get(ctx, id)
		if err != nil || occ.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_LAUNCHED || occ.GetParentCampaignId() != "daily" {
			t.Errorf("occurrence %d: got %v %v", n, occ, err)
		}
		msgs, _ := s.Messages(ctx, id)
		for _, m := range msgs {
			if campaign.InGlobalControl(m.UserID, campaign.DefaultControlPercent) {
				t.Errorf("occurrence %d messaged %s of the global control group", n, m.UserID)
			}
		}
	}
}

// enter applies segment entries (or exits) as the consumer does, in one transaction.
func enter(t *testing.T, s *store.Store, offset *int64, segment string, in bool, version int64, at time.Time, users ...string) {
	t.Helper()
	*offset++
	if _, err := s.Apply(context.Background(), store.Position{Topic: "segments", Offset: *offset}, func(ctx context.Context, tx *store.Tx) error {
		for _, u := range users {
			if err := tx.ApplySegmentChange(ctx, store.SegmentChange{UserID: u, SegmentID: segment, Enter: in, ProfileVersion: version, At: at}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSegmentEntryCampaign(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 200)
	ctx := context.Background()
	clock := now
	svc := newService(t, s, campaign.Config{ControlPercent: 10, Now: func() time.Time { return clock }})
	var off int64
	// Before the campaign starts: not its entry.
	enter(t, s, &off, "trial-ended", true, 2, now.Add(-time.Hour), "u0199")

	def := basic("welcome-back")
	def.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY, TriggerSegmentId: "trial-ended"}
	def.Target.SegmentIds = []string{"even"}
	if _, err := svc.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Launch(ctx, "welcome-back")
	if err != nil || c.GetState() != crmv1.CampaignState_CAMPAIGN_STATE_ACTIVE {
		t.Fatalf("launch: got %v %v, want active", c.GetState(), err)
	}
	clock = now.Add(time.Minute)
	var entered []string
	for k := range 160 {
		entered = append(entered, fmt.Sprintf("u%04d", k))
	}
	enter(t, s, &off, "trial-ended", true, 2, clock, entered...)
	if err := svc.HandleSegmentEntries(ctx); err != nil {
		t.Fatal(err)
	}
	audience, _ := s.Audience(ctx, "welcome-back")
	msgs, _ := s.Messages(ctx, "welcome-back")
	messaged := map[string]bool{}
	for _, m := range msgs {
		messaged[m.UserID] = true
	}
	control := 0
	for _, a := range audience {
		var k int
		_, _ = fmt.Sscanf(a.UserID, "u%04d", &k)
		switch {
		case k%2 != 0 || k >= 160:
			t.Errorf("%s is in the audience: not in the target, or did not enter", a.UserID)
		case k%10 == 9 || k == 7:
			t.Errorf("%s is in the audience without consent or on the do-not-contact list", a.UserID)
		}
		inControl := campaign.InGlobalControl(a.UserID, 10)
		if inControl {
			control++
		}
		if inControl == messaged[a.UserID] {
			t.Errorf("%s: in the global control group %v, messaged %v", a.UserID, inControl, messaged[a.UserID])
		}
	}
	// 80 even users entered; u0007 is odd; none of the even ones lacks consent (k%10 == 9 is odd).
	if len(audience) != 80 || control == 0 || len(msgs) != 80-control {
		t.Errorf("audience %d (control %d), messages %d; want 80 with some control and the rest messaged", len(audience), control, len(msgs))
	}
	if pending, _ := s.SegmentEntries(ctx, 10); len(pending) != 0 {
		t.Errorf("entries left after handling: %d", len(pending))
	}

	// Leaving and entering again, or a redelivered entry, sends nothing more; a new
	// entrant is messaged; after cancellation nothing is queued.
	clock = now.Add(time.Hour)
	enter(t, s, &off, "trial-ended", false, 3, clock, "u0000", "u0002")
	enter(t, s, &off, "trial-ended", true, 4, clock, "u0000", "u0002")
	enter(t, s, &off, "all", true, 4, clock, "u0500")
	enter(t, s, &off, "even", true, 4, clock, "u0500")
	if _, err := s.Apply(ctx, store.Position{Topic: "profiles"}, func(ctx context.Context, tx *store.Tx) error {
		return tx.PutProfile(ctx, store.ProfileSnapshot{UserID: "u0500", Version: 4, Consent: map[string]bool{"email": true}})
	}); err != nil {
		t.Fatal(err)
	}
	newcomer := "u0500"
	enter(t, s, &off, "trial-ended", true, 4, clock, newcomer)
	if err := svc.HandleSegmentEntries(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Audience(ctx, "welcome-back")
	if len(after) != len(audience)+1 {
		t.Errorf("audience after re-entries and a newcomer: got %d, want %d", len(after), len(audience)+1)
	}
	if got, _ := svc.Get(ctx, "welcome-back"); got.GetAudienceSize() != int64(len(after)) {
		t.Errorf("audience size: got %d, want %d", got.GetAudienceSize(), len(after))
	}
	if _, err := svc.Cancel(ctx, "welcome-back"); err != nil {
		t.Fatal(err)
	}
	enter(t, s, &off, "trial-ended", true, 5, clock, "u0180")
	if pending, _ := s.SegmentEntries(ctx, 10); len(pending) != 0 {
		t.Errorf("entries queued for a cancelled campaign: %d", len(pending))
	}
	if r, err := svc.Report(ctx, "welcome-back"); err != nil || len(r.GetVariants()) != 1 || r.GetVariants()[0].GetAudience() != int64(len(msgs)+1) ||
		r.GetControl().GetAudience() != int64(control) {
		t.Errorf("report of a segment-entry campaign: got %v %v", r, err)
	}
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	tests := []struct {
		name     string
		schedule *crmv1.Schedule
		field    string
	}{
		{"recurring without interval", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING, Until: ts(time.Hour)}, "campaign.schedule.every_minutes"},
		{"recurring too often", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING, EveryMinutes: 5, Until: ts(time.Hour)}, "campaign.schedule.every_minutes"},
		{"recurring without end", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING, EveryMinutes: 60}, "campaign.schedule.until"},
		{"recurring ending in the past", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_RECURRING, EveryMinutes: 60, Until: ts(-time.Hour)}, "campaign.schedule.until"},
		{"segment entry without segment", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY}, "campaign.schedule.trigger_segment_id"},
		{"segment entry with a start", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY, TriggerSegmentId: "s", At: ts(time.Hour)}, "campaign.schedule.at"},
		{"interval on a one-off", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_NOW, EveryMinutes: 60}, "campaign.schedule.every_minutes"},
		{"trigger on a one-off", &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_AT, At: ts(time.Hour), TriggerSegmentId: "s"}, "campaign.schedule.trigger_segment_id"},
		{"quiet hour out of range", nil, "campaign.quiet_hours.end_hour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := basic("v")
			c.Schedule = tt.schedule
			if tt.schedule == nil {
				c.QuietHours = &crmv1.QuietHours{StartHour: 22, EndHour: 24}
			}
			wantViolation(t, campaign.Validate(c, now), tt.field)
		})
	}
}

func TestWakeSchedulerHandlesEntriesAtOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 20)
	svc := newService(t, s, campaign.Config{ControlPercent: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	def := basic("wake")
	def.Schedule = &crmv1.Schedule{Type: crmv1.ScheduleType_SCHEDULE_TYPE_SEGMENT_ENTRY, TriggerSegmentId: "new-buyers"}
	if _, err := svc.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Launch(ctx, "wake"); err != nil {
		t.Fatal(err)
	}
	go func() { done <- svc.RunScheduler(ctx, time.Hour) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunScheduler: %v", err)
		}
	}()
	var off int64
	enter(t, s, &off, "new-buyers", true, 2, now, "u0002", "u0004")
	svc.WakeScheduler()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if a, _ := s.Audience(context.Background(), "wake"); len(a) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("entries not handled within 30s of waking the scheduler (its interval is an hour)")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
