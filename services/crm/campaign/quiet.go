package campaign

import (
	"fmt"
	"time"
	_ "time/tzdata" // users' time zones must resolve in minimal containers too

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
)

// Quiet is a daily window of local hours [Start, End) in which no message is
// delivered; it wraps midnight when Start > End, and is off when Start == End.
type Quiet struct{ Start, End int }

// Off reports whether the window is empty.
func (q Quiet) Off() bool { return q.Start == q.End }

func (q Quiet) validate() error {
	if q.Start < 0 || q.Start > 23 || q.End < 0 || q.End > 23 {
		return fmt.Errorf("campaign: quiet hours %d–%d: hours must be 0 to 23", q.Start, q.End)
	}
	return nil
}

// Defer returns when a message due at t may be delivered to a user in loc: t itself
// outside the quiet window, else the window's end (local time, so daylight-saving days
// keep the local hour).
func (q Quiet) Defer(t time.Time, loc *time.Location) time.Time {
	if q.Off() {
		return t
	}
	l := t.In(loc)
	h := l.Hour()
	var quiet bool
	if q.Start < q.End {
		quiet = h >= q.Start && h < q.End
	} else {
		quiet = h >= q.Start || h < q.End
	}
	if !quiet {
		return t
	}
	end := time.Date(l.Year(), l.Month(), l.Day(), q.End, 0, 0, 0, loc)
	if !end.After(l) {
		end = time.Date(l.Year(), l.Month(), l.Day()+1, q.End, 0, 0, 0, loc)
	}
	return end.UTC()
}

// quietOf is a campaign's quiet hours: its own, else the service's.
func quietOf(def *crmv1.Campaign, fallback Quiet) Quiet {
	if q := def.GetQuietHours(); q != nil {
		return Quiet{Start: int(q.GetStartHour()), End: int(q.GetEndHour())}
	}
	return fallback
}

// zones resolves users' time zones, falling back to the default for unknown names.
type zones struct {
	fallback *time.Location
	cache    map[string]*time.Location
}

func (z *zones) of(name string) *time.Location {
	if name == "" {
		return z.fallback
	}
	if l, ok := z.cache[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = z.fallback
	}
	z.cache[name] = l
	return l
}
