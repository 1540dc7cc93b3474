package campaign_test

import (
	"context"
	"errors"
	"testing"
	"time"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	"github.com/stratahq/strata/services/crm/campaign"
	"github.com/stratahq/strata/services/crm/store"
)

func TestQuietDefer(t *testing.T) {
	t.Parallel()
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	newYork, _ := time.LoadLocation("America/New_York")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		quiet campaign.Quiet
		at    string
		loc   *time.Location
		want  string
	}{
		{"outside the window", campaign.Quiet{Start: 21, End: 8}, "2026-11-20T04:00:00Z", shanghai, "2026-11-20T04:00:00Z"},             // 12:00 local
		{"evening, wraps to next morning", campaign.Quiet{Start: 21, End: 8}, "2026-11-20T14:30:00Z", shanghai, "2026-11-21T00:00:00Z"}, // 22:30 → 08:00
		{"after midnight, same morning", campaign.Quiet{Start: 21, End: 8}, "2026-11-20T19:00:00Z", shanghai, "2026-11-21T00:00:00Z"},   // 03:00 → 08:00
		{"start hour is quiet", campaign.Quiet{Start: 21, End: 8}, "2026-11-20T13:00:00Z", shanghai, "2026-11-21T00:00:00Z"},            // 21:00
		{"end hour is not", campaign.Quiet{Start: 21, End: 8}, "2026-11-21T00:00:00Z", shanghai, "2026-11-21T00:00:00Z"},                // 08:00
		{"daytime window", campaign.Quiet{Start: 12, End: 14}, "2026-11-20T05:15:00Z", shanghai, "2026-11-20T06:00:00Z"},                // 13:15 → 14:00
		{"off", campaign.Quiet{Start: 0, End: 0}, "2026-11-20T14:30:00Z", shanghai, "2026-11-20T14:30:00Z"},
		{"the user's own zone", campaign.Quiet{Start: 21, End: 8}, "2026-11-20T09:00:00Z", newYork, "2026-11-20T13:00:00Z"}, // 04:00 EST → 08:00
		// 2026-03-08 02:00 EST becomes 03:00 EDT: 08:00 local that day is 12:00 UTC.
		{"daylight saving starts overnight", campaign.Quiet{Start: 21, End: 8}, "2026-03-08T04:00:00Z", newYork, "2026-03-08T12:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.quiet.Defer(utc(tt.at), tt.loc); !got.Equal(utc(tt.want)) {
				t.Errorf("Defer(%s): got %v, want %s", tt.at, got.UTC(), tt.want)
			}
		})
	}
}

func TestQuietHoursDeferMessagesInTheUsersZone(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 40)
	ctx := context.Background()
	// u0000 in New York (09:00 UTC is 04:00 there: quiet), u0002 in Shanghai (17:00: not
	// quiet), u0004 names a zone that does not exist, the others none: the default,
	// Asia/Tokyo (18:00: not quiet), except with the campaign's own window.
	zone := map[string]string{"u0000": "America/New_York", "u0002": "Asia/Shanghai", "u0004": "Mars/Olympus"}
	if _, err := s.Apply(ctx, store.Position{Topic: "tz"}, func(ctx context.Context, tx *store.Tx) error {
		for u, z := range zone {
			if err := tx.PutProfile(ctx, store.ProfileSnapshot{UserID: u, Version: 2, RFMTier: "Loyal", Consent: map[string]bool{"email": true}, Timezone: z}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		quiet *crmv1.QuietHours
		// want maps users to their due time; everyone else is due at launch.
		want       map[string]time.Time
		defaultDue time.Time
	}{
		{"service default 21–8", nil, map[string]time.Time{"u0000": time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)}, now},
		// 17:00–19:00: Shanghai (17:00) and the default zone (Tokyo, 18:00) are quiet.
		{"campaign's own window", &crmv1.QuietHours{StartHour: 17, EndHour: 19},
			map[string]time.Time{"u0000": now, "u0002": time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)}, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)},
	}
	for i, tt := range tests {
		svc := newService(t, s, campaign.Config{ControlPercent: 1, Timezone: "Asia/Tokyo", QuietStart: 21, QuietEnd: 8,
			CapPerDay: 10, CapPerWeek: 10})
		def := basic("quiet-" + string(rune('a'+i)))
		def.QuietHours = tt.quiet
		if _, err := svc.Create(ctx, def); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Launch(ctx, def.GetCampaignId()); err != nil {
			t.Fatal(err)
		}
		msgs, _ := s.Messages(ctx, def.GetCampaignId())
		seen := 0
		for _, m := range msgs {
			want, ok := tt.want[m.UserID]
			if !ok {
				want = tt.defaultDue
			}
			if ok {
				seen++
			}
			if !m.DueAt.Equal(want) {
				t.Errorf("%s: message to %s (zone %q) due %v, want %v", tt.name, m.UserID, zone[m.UserID], m.DueAt, want)
			}
		}
		if seen != len(tt.want) {
			t.Errorf("%s: %d of the users with a zone were messaged, want %d", tt.name, seen, len(tt.want))
		}
		// Deferred messages wait in the outbox; nothing is dropped.
		due, _ := s.PendingMessages(ctx, now, 1000)
		later, _ := s.PendingMessages(ctx, now.Add(24*time.Hour), 1000)
		if len(later) <= len(due) {
			t.Errorf("%s: pending now %d, a day later %d: want the deferred ones to become due", tt.name, len(due), len(later))
		}
	}
}

func TestFrequencyCapsPerChannelPerDayAndWeek(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	seed(t, s, 60)
	ctx := context.Background()
	clock := now
	svc := newService(t, s, campaign.Config{ControlPercent: 1, CapPerDay: 1, CapPerWeek: 2, Now: func() time.Time { return clock }})
	launch := func(id string, ch crmv1.Channel) (campaign.Preview, error) {
		t.Helper()
		def := basic(id)
		def.Channel = ch
		if _, err := svc.Create(ctx, def); err != nil {
			t.Fatal(err)
		}
		pv, err := svc.Preview(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Launch(ctx, id)
		return pv, err
	}
	steps := []struct {
		id      string
		after   time.Duration
		channel crmv1.Channel
		// capped: everyone eligible before is at the cap.
		capped bool
	}{
		{"mon-email", 0, crmv1.Channel_CHANNEL_EMAIL, false},
		{"mon-email-2", time.Hour, crmv1.Channel_CHANNEL_EMAIL, true},     // day cap 1
		{"mon-sms", 2 * time.Hour, crmv1.Channel_CHANNEL_SMS, false},      // caps are per channel
		{"tue-email", 25 * time.Hour, crmv1.Channel_CHANNEL_EMAIL, false}, // a new day
		{"wed-email", 49 * time.Hour, crmv1.Channel_CHANNEL_EMAIL, true},  // week cap 2
		{"next-week", 8 * 24 * time.Hour, crmv1.Channel_CHANNEL_EMAIL, false},
	}
	for _, st := range steps {
		clock = now.Add(st.after)
		pv, err := launch(st.id, st.channel)
		switch {
		case st.capped && (!errors.Is(err, campaign.ErrEmptyTarget) || pv.Capped == 0 || pv.Eligible != 0):
			t.Errorf("%s: got %v, preview %+v; want everyone capped", st.id, err, pv)
		case !st.capped && (err != nil || pv.Capped != 0 || pv.Eligible == 0):
			t.Errorf("%s: got %v, preview %+v; want nobody capped", st.id, err, pv)
		}
	}
}
