package sink

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// PaceConfig paces a sink.
type PaceConfig struct {
	// Compress replays time faster by this factor: a message is sent no earlier than
	// start + (its timestamp − the first message's timestamp) / Compress, so with
	// Compress = 86400 a day of events takes a second. 0 sends as fast as allowed.
	// A message whose timestamp is earlier than one already sent waits for nothing, so
	// only time-ordered input is paced faithfully.
	Compress float64
	// Rate limits messages per second; 0 means no limit.
	Rate float64
}

// Pace returns s with messages held back as cfg says; with neither set it returns s.
func Pace(s Sink, cfg PaceConfig) Sink {
	if cfg.Compress <= 0 && cfg.Rate <= 0 {
		return s
	}
	p := &paced{Sink: s, cfg: cfg, clock: realClock{}}
	if cfg.Rate > 0 {
		// A burst of about 10 ms of messages keeps the rate smooth without a timer per
		// message at high rates.
		p.lim = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/100)))
	}
	return p
}

type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type paced struct {
	Sink
	cfg   PaceConfig
	clock clock
	lim   *rate.Limiter
	// first is the timestamp of the first message, sent at start.
	first, start time.Time
}

func (p *paced) Send(ctx context.Context, m Message) error {
	if p.cfg.Compress > 0 {
		now := p.clock.Now()
		if p.start.IsZero() {
			p.first, p.start = m.Timestamp, now
		}
		due := p.start.Add(time.Duration(float64(m.Timestamp.Sub(p.first)) / p.cfg.Compress))
		if wait := due.Sub(now); wait > 0 {
			if err := p.clock.Sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
	if p.lim != nil {
		now := p.clock.Now()
		r := p.lim.ReserveN(now, 1)
		if wait := r.DelayFrom(now); wait > 0 {
			if err := p.clock.Sleep(ctx, wait); err != nil {
				r.CancelAt(now)
				return err
			}
		}
	}
	return p.Sink.Send(ctx, m)
}
