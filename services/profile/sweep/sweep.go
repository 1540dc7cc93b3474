// Package sweep runs the profile service's passes over every profile in Redis: RFM
// calibration (quintile boundaries and grid, periodically and on demand) and, in the same
// pass, the behaviour clusters (package cluster), segment
// back-fills (a new or changed definition evaluated over everyone), the periodic
// re-evaluation of every segment (so time-relative rules such as "inactive for 30 days"
// follow the clock without events), and segment previews.
//
// Each cluster-wide job runs on one instance at a time, the holder of a Redis lease; the
// others skip it. The boundaries every instance scores with come from Redis
// ([Boundaries]), so all instances score alike once they refreshed (within
// RefreshInterval of a calibration).
//
// Back-fills write memberships with the same versioned script as the updater (see
// package store), so a back-fill never overrides the verdict on a newer profile version.
package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/cache"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/profile/cluster"
	"github.com/stratahq/strata/services/profile/rfm"
	"github.com/stratahq/strata/services/profile/segment"
	"github.com/stratahq/strata/services/profile/state"
	"github.com/stratahq/strata/services/profile/store"
)

// Boundaries caches the current RFM boundaries. It is safe for concurrent use.
type Boundaries struct {
	p atomic.Pointer[profilev1.RfmBoundaries]
}

// Current returns the cached boundaries (nil before the first calibration).
func (b *Boundaries) Current() *profilev1.RfmBoundaries { return b.p.Load() }

// Set replaces the cached boundaries if newer.
func (b *Boundaries) Set(n *profilev1.RfmBoundaries) {
	for {
		cur := b.p.Load()
		if n == nil || (cur != nil && cur.GetVersion() >= n.GetVersion()) {
			return
		}
		if b.p.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Clusters caches the current behaviour clusters. It is safe for concurrent use.
type Clusters struct {
	p atomic.Pointer[profilev1.ClusterModel]
}

// Current returns the cached clusters (nil before the first computation).
func (c *Clusters) Current() *profilev1.ClusterModel { return c.p.Load() }

// Set replaces the cached clusters if newer.
func (c *Clusters) Set(n *profilev1.ClusterModel) {
	for {
		cur := c.p.Load()
		if n == nil || (cur != nil && cur.GetVersion() >= n.GetVersion()) {
			return
		}
		if c.p.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Config configures a Sweeper. Zero durations take the defaults.
type Config struct {
	// RFMInterval is how often RFM is recalibrated and every segment re-evaluated;
	// default 1h.
	RFMInterval time.Duration
	// PollInterval is how often pending back-fills are looked for and the boundaries
	// refreshed; default 2s.
	PollInterval time.Duration
	// Workers evaluate profiles of a batch concurrently; default 8.
	Workers int
	// Owner names this instance in leases.
	Owner string
	// ClusterK is the number of behaviour clusters; 0 chooses it by silhouette.
	ClusterK int
	// Clusters caches the clusters for the updater and the API; a new cache when nil.
	Clusters *Clusters
}

func (c Config) withDefaults() Config {
	if c.RFMInterval <= 0 {
		c.RFMInterval = time.Hour
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Clusters == nil {
		c.Clusters = &Clusters{}
	}
	return c
}

// Sweeper runs the passes.
type Sweeper struct {
	cfg        Config
	store      *store.Store
	registry   *segment.Registry
	compiler   *segment.Compiler
	deriver    state.Deriver
	boundaries *Boundaries
	publish    func(context.Context, []*profilev1.SegmentEvent) error
	now        func() time.Time
	log        *slog.Logger
	sweepDue   atomic.Bool
}

// New returns a sweeper. publish sends segment enter/exit events.
func New(cfg Config, s *store.Store, reg *segment.Registry, c *segment.Compiler, d state.Deriver, b *Boundaries,
	publish func(context.Context, []*profilev1.SegmentEvent) error, now func() time.Time, log *slog.Logger) *Sweeper {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg.withDefaults(), store: s, registry: reg, compiler: c, deriver: d, boundaries: b, publish: publish, now: now, log: log}
}

const lockTTL = 30 * time.Second

// Run back-fills pending segments, refreshes the boundaries and recalibrates RFM on
// schedule until ctx is done. Errors are logged and retried at the next tick.
func (s *Sweeper) Run(ctx context.Context) error {
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	for {
		if err := s.Refresh(ctx); err != nil {
			s.log.WarnContext(ctx, "sweep: refresh boundaries", slog.Any("error", err))
		}
		if s.calibrationDue() {
			if _, err := s.calibrate(ctx, false); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "sweep: calibrate RFM", slog.Any("error", err))
			}
		}
		if s.sweepDue.Swap(false) {
			if err := s.sweepAll(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "sweep: re-evaluate segments", slog.Any("error", err))
				s.sweepDue.Store(true)
			}
		}
		if err := s.BackfillPending(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep: back-fill", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-s.registry.Changed():
		}
	}
}

// maxVectors bounds the feature vectors kept for clustering (a reservoir sample beyond),
// clusterSeed makes the clustering of the same sample the same on every run.
const (
	maxVectors  = 200_000
	clusterSeed = 42
)

// emptyInterval is how often calibration is tried while nobody purchased yet.
const emptyInterval = time.Minute

// calibrationDue reports whether the shared boundaries are older than the interval.
func (s *Sweeper) calibrationDue() bool {
	b := s.boundaries.Current()
	if b == nil {
		return true
	}
	interval := s.cfg.RFMInterval
	if b.GetPopulation() == 0 {
		interval = min(interval, emptyInterval)
	}
	return s.now().Sub(b.GetComputedAt().AsTime()) >= interval
}

// sweepAll evaluates every segment on every profile, under a lease.
func (s *Sweeper) sweepAll(ctx context.Context) error {
	lock, ok, err := s.store.TryLock(ctx, cache.SegmentSweepLockKey, s.cfg.Owner, lockTTL)
	if err != nil || !ok {
		return err
	}
	return lock.Hold(ctx, func(ctx context.Context) error {
		start := time.Now()
		defs := s.registry.List()
		if err := s.evaluateAll(ctx, defs); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "sweep: segments re-evaluated", slog.Int("segments", len(defs)), slog.Duration("took", time.Since(start)))
		return nil
	})
}

// Refresh reloads the boundaries and clusters from Redis.
func (s *Sweeper) Refresh(ctx context.Context) error {
	b, err := s.store.Boundaries(ctx)
	if err != nil {
		return err
	}
	s.boundaries.Set(b)
	m, err := s.store.Clusters(ctx)
	if err != nil {
		return err
	}
	s.cfg.Clusters.Set(m)
	return nil
}

// derive derives p as of now and assigns its behaviour cluster.
func (s *Sweeper) derive(p *profilev1.Profile, now time.Time, b *profilev1.RfmBoundaries, m *profilev1.ClusterModel) {
	s.deriver.Derive(p, now, b)
	p.BehaviourCluster = cluster.Assign(m, p)
}

// ErrBusy is returned by Calibrate when another instance is calibrating and did not
// finish in time.
var ErrBusy = errors.New("sweep: another instance is calibrating")

// Calibrate recalibrates RFM now (waiting for a calibration in progress elsewhere to
// finish instead) and returns the grid.
func (s *Sweeper) Calibrate(ctx context.Context) (*profilev1.RfmGrid, error) {
	return s.calibrate(ctx, true)
}

func (s *Sweeper) calibrate(ctx context.Context, force bool) (*profilev1.RfmGrid, error) {
	lock, ok, err := s.store.TryLock(ctx, cache.RFMLockKey, s.cfg.Owner, lockTTL)
	if err != nil {
		return nil, err
	}
	if !ok {
		if !force {
			return nil, nil
		}
		return s.awaitCalibration(ctx)
	}
	var grid *profilev1.RfmGrid
	err = lock.Hold(ctx, func(ctx context.Context) error {
		if !force {
			// Another instance may have calibrated since this one looked.
			if b, err := s.store.Boundaries(ctx); err == nil && b != nil {
				s.boundaries.Set(b)
				if !s.calibrationDue() {
					return nil
				}
			}
		}
		g, err := s.calibrateLocked(ctx, force)
		if err != nil {
			return err
		}
		grid = g
		// Tiers moved, and time passed for time-relative rules: evaluate every segment
		// again, in the background of Run.
		s.sweepDue.Store(true)
		return nil
	})
	return grid, err
}

func (s *Sweeper) awaitCalibration(ctx context.Context) (*profilev1.RfmGrid, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		n, err := s.store.Client().Exists(ctx, cache.RFMLockKey).Result()
		if err != nil {
			return nil, fmt.Errorf("sweep: %w", err)
		}
		if n == 0 {
			if err := s.Refresh(ctx); err != nil {
				return nil, err
			}
			return s.store.Grid(ctx)
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return nil, ErrBusy
}

type scored struct {
	values   rfm.Values
	currency string
}

// calibrateLocked computes and stores new boundaries and the grid from every profile.
func (s *Sweeper) calibrateLocked(ctx context.Context, force bool) (*profilev1.RfmGrid, error) {
	now := s.now()
	var all []scored
	currencies := map[string]int{}
	var vectors [][]float64
	seen := 0
	rng := rand.New(rand.NewPCG(uint64(now.Unix()), 1))
	err := s.store.Scan(ctx, func(batch []*profilev1.Profile) error {
		for _, p := range batch {
			// Behaviour features of everyone, by reservoir sampling past maxVectors.
			s.deriver.Derive(p, now, nil)
			if seen++; len(vectors) < maxVectors {
				vectors = append(vectors, cluster.Vector(p))
			} else if j := rng.IntN(seen); j < maxVectors {
				vectors[j] = cluster.Vector(p)
			}
			if v, ok := state.RFMValues(p, now); ok {
				c := p.GetAggregates().GetCurrency()
				all = append(all, scored{values: v, currency: c})
				currencies[c]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	values := make([]rfm.Values, len(all))
	for i, a := range all {
		values[i] = a.values
	}
	b := rfm.Calibrate(values)
	if b == nil {
		// Nobody purchased in the last year: boundaries that score nobody.
		b = &profilev1.RfmBoundaries{}
	}
	prev, err := s.store.Boundaries(ctx)
	if err != nil {
		return nil, err
	}
	b.Version = max(prev.GetVersion()+1, now.UnixMilli())
	b.ComputedAt = timestamppb.New(now)
	// The grid sums revenue in the most common currency.
	currency := ""
	for c, n := range currencies {
		if n > currencies[currency] || (n == currencies[currency] && c < currency) {
			currency = c
		}
	}
	tiers := s.deriver.Tiers
	if tiers == nil {
		tiers = rfm.Standard
	}
	g := rfm.NewGrid()
	for _, a := range all {
		r, f, m := rfm.Score(a.values, b)
		money := a.values.Monetary
		if a.currency != currency {
			money = 0
		}
		g.Add(&profilev1.Rfm{R: r, F: f, M: m, MonetaryMinor: money, Tier: rfm.Tier(tiers, r, f, m)})
	}
	grid := g.Proto(b, currency, now)
	if err := s.store.SaveCalibration(ctx, b, grid); err != nil {
		return nil, err
	}
	s.boundaries.Set(b)
	// Clusters are recomputed at the regular interval (not at every retry while nobody
	// purchased yet) or on demand.
	cur := s.cfg.Clusters.Current()
	if !force && cur != nil && now.Sub(cur.GetComputedAt().AsTime()) < s.cfg.RFMInterval {
		return grid, nil
	}
	if m := cluster.Fit(vectors, s.cfg.ClusterK, clusterSeed); m != nil {
		m.Version, m.ComputedAt, m.Population = b.GetVersion(), timestamppb.New(now), int64(seen)
		if err := s.store.SaveClusters(ctx, m); err != nil {
			return nil, err
		}
		s.cfg.Clusters.Set(m)
		s.log.InfoContext(ctx, "sweep: behaviour clusters computed", slog.Int("k", len(m.GetClusters())), slog.Float64("silhouette", m.GetSilhouette()))
	}
	s.log.InfoContext(ctx, "sweep: RFM calibrated", slog.Int64("version", b.GetVersion()), slog.Int64("population", b.GetPopulation()))
	return grid, nil
}

// BackfillPending back-fills every segment whose definition version is newer than its
// last back-fill, skipping those another instance is back-filling.
func (s *Sweeper) BackfillPending(ctx context.Context) error {
	var errs []error
	for _, d := range s.registry.List() {
		id, version := d.Segment.GetSegmentId(), d.Segment.GetVersion()
		st, err := s.store.GetSegmentStatus(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.ComputedVersion >= version {
			continue
		}
		lock, ok, err := s.store.TryLock(ctx, cache.SegmentBackfillLockKey(id), s.cfg.Owner, lockTTL)
		if err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		err = lock.Hold(ctx, func(ctx context.Context) error {
			if st, err := s.store.GetSegmentStatus(ctx, id); err != nil || st.ComputedVersion >= version {
				return err
			}
			if err := s.store.SetSegmentComputing(ctx, id, version); err != nil {
				return err
			}
			start := time.Now()
			if err := s.evaluateAll(ctx, []*segment.Definition{d}); err != nil {
				return err
			}
			n, _ := s.store.MemberCount(ctx, id)
			s.log.InfoContext(ctx, "sweep: segment back-filled", slog.String("segment", id), slog.Int64("version", version),
				slog.Int64("members", n), slog.Duration("took", time.Since(start)))
			return s.store.SetSegmentReady(ctx, id, version, s.now())
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// evaluateAll evaluates defs on every profile as of now and records the memberships.
func (s *Sweeper) evaluateAll(ctx context.Context, defs []*segment.Definition) error {
	if len(defs) == 0 {
		return nil
	}
	ids := make([]string, len(defs))
	for i, d := range defs {
		ids[i] = d.Segment.GetSegmentId()
	}
	b, m := s.boundaries.Current(), s.cfg.Clusters.Current()
	return s.store.Scan(ctx, func(batch []*profilev1.Profile) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.cfg.Workers)
		for _, p := range batch {
			g.Go(func() error {
				now := s.now()
				s.derive(p, now, b, m)
				results := segment.Evaluate(defs, p, nil)
				n, err := s.store.ApplyMembership(gctx, p.GetUserId(), p.GetVersion(), now, results)
				if errors.Is(err, store.ErrStaleMembership) {
					return nil // the updater evaluated a newer version
				}
				if err != nil {
					return err
				}
				if n > 0 {
					return s.store.FlushOutbox(gctx, p.GetUserId(), s.publish)
				}
				// No change queued: still make the member sets agree, in case an earlier
				// flush stopped half-way.
				return s.store.SyncMembers(gctx, p.GetUserId(), ids)
			})
		}
		return g.Wait()
	})
}

// Preview evaluates rule over every profile as of now: the number of matches, the number
// of profiles evaluated and the sample smallest matching user ids.
func (s *Sweeper) Preview(ctx context.Context, rule *segment.Rule, sample int) (count, scanned int64, ids []string, err error) {
	b, m := s.boundaries.Current(), s.cfg.Clusters.Current()
	now := s.now()
	err = s.store.Scan(ctx, func(batch []*profilev1.Profile) error {
		for _, p := range batch {
			scanned++
			s.derive(p, now, b, m)
			if ok, _ := rule.Match(p); !ok {
				continue
			}
			count++
			id := p.GetUserId()
			if len(ids) == sample && (sample == 0 || id >= ids[sample-1]) {
				continue
			}
			i, _ := slices.BinarySearchFunc(ids, id, cmp.Compare[string])
			ids = slices.Insert(ids, i, id)
			if len(ids) > sample {
				ids = ids[:sample]
			}
		}
		return ctx.Err()
	})
	return count, scanned, ids, err
}
