package world

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratahq/strata/services/strata/sink"
)

// Configuration errors returned by Validate.
var (
	ErrInvalidSize = errors.New("world: users, items and days must be positive")
	ErrMissingEnd  = errors.New("world: the end of the world's time window is required")
)

// Config sizes a world.
type Config struct {
	// Seed makes the world: the same Config gives the same bytes.
	Seed uint64
	// Users, Items and Days size the world: users, catalog items, and the days of
	// behaviour that end at End.
	Users, Items, Days int
	// End is when the world's time window ends; events fall in [End−Days, End).
	End time.Time
	// Prefix is put before every id (users, items, creators, orders…) so that several
	// worlds can share one suite.
	Prefix string
	// Workers simulate users in parallel; output order does not depend on it. Default:
	// GOMAXPROCS.
	Workers int
}

// DefaultConfig is the laptop demo: 5,000 users, 300 items, 180 days, seed 42, ending at
// the start of the current UTC day.
func DefaultConfig() Config {
	return Config{Seed: 42, Users: 5000, Items: 300, Days: 180, End: time.Now().UTC().Truncate(24 * time.Hour)}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if c.Users <= 0 || c.Items <= 0 || c.Days <= 0 {
		return ErrInvalidSize
	}
	if c.End.IsZero() {
		return ErrMissingEnd
	}
	return nil
}

func (c Config) start() time.Time { return c.End.UTC().AddDate(0, 0, -c.Days) }

// World is a generated platform: its catalog is built by New, its users and their
// behaviour are simulated on demand by User and Generate.
type World struct {
	cfg       Config
	cat       *catalog
	simulated atomic.Int64
}

// New builds the world's catalog. Memory is proportional to the number of items, not
// of users.
func New(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.End = cfg.End.UTC()
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	return &World{cfg: cfg, cat: newCatalog(cfg)}, nil
}

// Config returns the world's configuration.
func (w *World) Config() Config { return w.cfg }

// Items returns the catalog, in item id order.
func (w *World) Items() []sink.Item {
	out := make([]sink.Item, len(w.cat.items))
	for i := range w.cat.items {
		out[i] = w.cat.items[i].Item
	}
	return out
}

// UserID returns the id of the i-th user (0-based).
func (w *World) UserID(i int) string { return fmt.Sprintf("%su%07d", w.cfg.Prefix, i+1) }

// User returns the i-th user (0-based) with its latent tastes.
func (w *World) User(i int) User {
	u := w.newUser(newRand(w.cfg.Seed, streamUser, uint64(i)), i)
	u.contact(newRand(w.cfg.Seed, streamContact, uint64(i)))
	return u
}

// Messages simulates user i (0-based) alone and returns the messages Generate emits
// for them.
func (w *World) Messages(i int) []sink.Message { return w.simulate(i) }

// Simulated reports how many users Generate has finished emitting; safe for concurrent
// use, for progress reports.
func (w *World) Simulated() int64 { return w.simulated.Load() }

// Generate simulates every user and calls emit with their messages: user after user in
// id order, each user's messages in time order. Users are simulated in parallel, a
// bounded number ahead of emit, so memory does not grow with the world. It stops at the
// first error of emit or when ctx is done. emit is called from one goroutine.
func (w *World) Generate(ctx context.Context, emit func(sink.Message) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		i   int
		out chan []sink.Message
	}
	ahead := 4 * w.cfg.Workers
	jobs := make(chan job, ahead)
	order := make(chan job, ahead)
	var wg sync.WaitGroup
	for range w.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j.out <- w.simulate(j.i)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(jobs)
		for i := range w.cfg.Users {
			j := job{i: i, out: make(chan []sink.Message, 1)}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	err := func() error {
		for j := range order {
			var msgs []sink.Message
			select {
			case msgs = <-j.out:
			case <-ctx.Done():
				return ctx.Err()
			}
			for _, m := range msgs {
				if err := emit(m); err != nil {
					return err
				}
			}
			w.simulated.Add(1)
		}
		return ctx.Err()
	}()
	cancel()
	wg.Wait()
	return err
}

// Random streams: every user has its own, so users can be simulated in any order.
const (
	streamCatalog uint64 = iota + 1
	streamUser
	// streamContact draws consent and time zones; a stream of its own keeps every
	// other draw (and so the worlds generated before it existed) unchanged.
	streamContact
)

func newRand(seed, stream, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix(seed^0x5eed), splitmix(stream<<48^i)))
}

// splitmix is SplitMix64's finaliser: it spreads nearby seeds far apart.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
