// Package engine is the recommendation service's core: it applies consumed events,
// catalog items, segment memberships and segment names to the store, trains the models (popularity,
// item-kNN, EASE, optionally implicit ALS, per-segment popularity and the content model)
// over the interactions of active users, precomputes every active user's candidate list
// into Redis, and answers Recommend, SimilarItems and Popular under the business rules.
//
// # Serving
//
// A home or email list comes from the user's precomputed candidates in Redis (source
// "cache"); on a miss it is computed on the fly from the user's history and written back
// ("computed"); a user without history gets the items matching their stated interests
// (traits.interests of identify events, by the content model: "content"), else what is
// popular in their segments ("segment"); anyone else, or any request while Redis does not
// answer within Config.RedisTimeout, gets the popular items kept in memory ("popular"),
// so Redis being down degrades quality, not availability. Every list then passes the
// request's filters (category, item type, price range, exclusions) and the catalog's
// tombstones, and is diversified by category with maximal marginal relevance. Owned
// (purchased, being learnt) and negatively rated or refunded items are never candidates.
// Every item carries a reason. Users are assigned to a model variant by a hash of their
// id (see Variant), reported in each response.
//
// A computed list is the variant's model's top candidates, with Config.ColdShare of it
// given to new items the collaborative models do not know yet, chosen by content
// similarity to the user's history ("new, like …"), and a boost of up to
// Config.SegmentBoost for items popular in the user's segments ("popular with learners
// in …"). Items nobody has used yet get similar items by content ("similar to …").
//
// # Training and memory
//
// Train reads the histories of the Config.MaxTrainUsers most recently active users from
// the store, with weights decayed to now, and fits item-kNN over every item, EASE over
// the Config.MaxEASEItems most popular ones and, when a variant uses it, implicit ALS
// over every item (catalogs too large for EASE); the new models replace the old
// atomically. The content model (TF-IDF over the catalog's texts) is refitted at each
// training and every Config.ContentInterval when the catalog changed; the Chinese
// dictionary loads at the first Chinese text (see package content).
// Memory: the interaction matrix costs about 40 bytes per interaction; item-kNN about
// 16 bytes per item and neighbour; EASE keeps 8·n² bytes for n = min(items,
// MaxEASEItems) (200 MB at the default 5,000) and peaks at about 10.7·n² while fitting,
// next to the previous models, which serve until the new ones replace them; ALS keeps
// 8·k bytes per user and item. Measured (BenchmarkFitModels1M): fitting 1,000,000
// interactions of 50,000 users over 20,000 items takes 25 s on two cores with a peak
// heap of 373 MiB. Train runs one at a time, on a timer and on demand.
//
// Each run measures the served model (the first variant's) before fitting: it holds out
// the latest interaction of up to Config.HoldoutUsers users, fits that model on the rest
// and reports nDCG@10, precision@10, recall@10 and coverage against popularity, so a run
// fits the served model twice. Every finished run, failed or not, is recorded in the
// store (the latest Config.KeepRuns), where ListRuns reads the runs of every instance.
//
// An Engine is safe for concurrent use.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/als"
	"github.com/stratahq/strata/services/recommendation/content"
	"github.com/stratahq/strata/services/recommendation/ease"
	"github.com/stratahq/strata/services/recommendation/itemknn"
	"github.com/stratahq/strata/services/recommendation/signal"
	"github.com/stratahq/strata/services/recommendation/store"
)

// Variant is one arm of the A/B test: users whose hash bucket falls in its share get
// lists from its model.
type Variant struct {
	// Name is reported in responses and expected in Recommendation Shown/Clicked events.
	Name string
	// Model is "ease", "itemknn" or "als".
	Model string
	// Share is the variant's share of users, in percent.
	Share int
}

// Models a variant can use.
const (
	ModelEASE    = "ease"
	ModelItemKNN = "itemknn"
	// ModelALS is implicit ALS over every item, for catalogs larger than MaxEASEItems;
	// it is fitted only when a variant uses it.
	ModelALS = "als"
)

// Config tunes the engine. Zero values take the defaults of DefaultConfig.
type Config struct {
	Weights  signal.Weights
	HalfLife time.Duration
	// EASE and MaxEASEItems configure EASE, fitted on the most popular items only.
	EASE         ease.Config
	MaxEASEItems int
	KNN          itemknn.Config
	// ALS configures implicit ALS (see package als for the defaults).
	ALS als.Config
	// MaxTrainUsers bounds the users a training reads (the most recently active).
	MaxTrainUsers int
	// TrainWindow: users without an event for that long are not trained on.
	TrainWindow time.Duration
	// ActiveWindow and MaxPrecompute choose whose lists are precomputed after training.
	ActiveWindow  time.Duration
	MaxPrecompute int
	// Candidates is the length of a precomputed list, before filters and diversity.
	Candidates int
	ListTTL    time.Duration
	// DefaultN is the list length when a request asks for 0.
	DefaultN int
	// MMRLambda trades relevance for category diversity (1 = none); EmailMMRLambda is
	// the email scene's, more diverse.
	MMRLambda, EmailMMRLambda float64
	// RedisTimeout is the budget of Redis reads and on-the-fly computing on the request
	// path; past it the request is served from memory.
	RedisTimeout time.Duration
	// RedisCooldown is how long requests skip Redis after it failed on the request path.
	RedisCooldown time.Duration
	Variants      []Variant
	// ContentInterval is how often RunTrainer refits the content model when the catalog
	// changed.
	ContentInterval time.Duration
	// Tokenizer splits catalog texts and interests into terms; nil means one with gse's
	// embedded dictionary (loaded at the first Chinese text).
	Tokenizer *content.Tokenizer
	// ColdShare is the share of a precomputed list given to new items the collaborative
	// models do not know yet, chosen by content similarity to the user's history;
	// negative means none.
	ColdShare float64
	// SegmentItems is how many popular items are kept per segment; SegmentBoost is the
	// most a list's item is raised for being popular in the user's segments, relative
	// to the list's best score (negative: no boost).
	SegmentItems int
	SegmentBoost float64
	// CatalogTopic, SegmentsTopic and SegmentDefinitionsTopic are the topics whose
	// messages Handle reads as catalog items, segment events and segment definitions
	// (for the segments' names); empty means strata.catalog.v1, strata.segments.v1 and
	// strata.segment-definitions.v1.
	CatalogTopic, SegmentsTopic, SegmentDefinitionsTopic string
	// PrivacyTopic is the topic whose messages Handle reads as privacy requests; empty
	// means strata.privacy.v1.
	PrivacyTopic string
	// Receipts publishes the erasure receipts of handled privacy requests to
	// ReceiptsTopic (empty: strata.privacy.receipts.v1); nil publishes none.
	Receipts      bus.Publisher
	ReceiptsTopic string
	// HoldoutUsers bounds the users whose latest interaction a run holds out to measure
	// the served model against popularity; negative means no metrics.
	HoldoutUsers int
	// KeepRuns is how many finished runs the store keeps for ListRuns.
	KeepRuns int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Weights:         signal.DefaultWeights,
		HalfLife:        30 * 24 * time.Hour,
		EASE:            ease.Config{Lambda: ease.DefaultLambda},
		MaxEASEItems:    5000,
		KNN:             itemknn.Config{Neighbours: 100, Shrink: 10},
		MaxTrainUsers:   200000,
		TrainWindow:     180 * 24 * time.Hour,
		ActiveWindow:    30 * 24 * time.Hour,
		MaxPrecompute:   100000,
		Candidates:      100,
		ListTTL:         24 * time.Hour,
		DefaultN:        10,
		MMRLambda:       0.7,
		EmailMMRLambda:  0.5,
		RedisTimeout:    100 * time.Millisecond,
		RedisCooldown:   time.Second,
		Variants:        []Variant{{Name: "ease", Model: ModelEASE, Share: 50}, {Name: "itemknn", Model: ModelItemKNN, Share: 50}},
		ContentInterval: 10 * time.Second,
		ColdShare:       0.2,
		SegmentItems:    200,
		SegmentBoost:    0.3,
		HoldoutUsers:    2000,
		KeepRuns:        100,
	}
}

// ErrBadVariants is returned by Validate when variant shares do not add up to 100 or a
// variant names an unknown model.
var ErrBadVariants = errors.New("engine: variants must name ease, itemknn or als and share 100%")

// Validate reports configuration errors.
func (c Config) Validate() error {
	total := 0
	for _, v := range c.Variants {
		if v.Name == "" || (v.Model != ModelEASE && v.Model != ModelItemKNN && v.Model != ModelALS) || v.Share < 0 {
			return ErrBadVariants
		}
		total += v.Share
	}
	if len(c.Variants) > 0 && total != 100 {
		return ErrBadVariants
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Weights == (signal.Weights{}) {
		c.Weights = d.Weights
	}
	if c.HalfLife == 0 {
		c.HalfLife = d.HalfLife
	}
	if c.EASE.Lambda == 0 {
		c.EASE = d.EASE
	}
	if c.MaxEASEItems == 0 {
		c.MaxEASEItems = d.MaxEASEItems
	}
	if c.KNN == (itemknn.Config{}) {
		c.KNN = d.KNN
	}
	if c.MaxTrainUsers == 0 {
		c.MaxTrainUsers = d.MaxTrainUsers
	}
	if c.TrainWindow == 0 {
		c.TrainWindow = d.TrainWindow
	}
	if c.ActiveWindow == 0 {
		c.ActiveWindow = d.ActiveWindow
	}
	if c.MaxPrecompute == 0 {
		c.MaxPrecompute = d.MaxPrecompute
	}
	if c.Candidates == 0 {
		c.Candidates = d.Candidates
	}
	if c.ListTTL == 0 {
		c.ListTTL = d.ListTTL
	}
	if c.DefaultN == 0 {
		c.DefaultN = d.DefaultN
	}
	if c.MMRLambda == 0 {
		c.MMRLambda = d.MMRLambda
	}
	if c.EmailMMRLambda == 0 {
		c.EmailMMRLambda = d.EmailMMRLambda
	}
	if c.RedisTimeout == 0 {
		c.RedisTimeout = d.RedisTimeout
	}
	if c.RedisCooldown == 0 {
		c.RedisCooldown = d.RedisCooldown
	}
	if len(c.Variants) == 0 {
		c.Variants = d.Variants
	}
	if c.ContentInterval == 0 {
		c.ContentInterval = d.ContentInterval
	}
	if c.HoldoutUsers == 0 {
		c.HoldoutUsers = d.HoldoutUsers
	}
	if c.KeepRuns <= 0 {
		c.KeepRuns = d.KeepRuns
	}
	if c.ColdShare == 0 {
		c.ColdShare = d.ColdShare
	}
	if c.Tokenizer == nil {
		c.Tokenizer = content.NewTokenizer()
	}
	if c.SegmentItems == 0 {
		c.SegmentItems = d.SegmentItems
	}
	if c.SegmentBoost == 0 {
		c.SegmentBoost = d.SegmentBoost
	}
	if c.CatalogTopic == "" {
		c.CatalogTopic = topics.Catalog
	}
	if c.SegmentsTopic == "" {
		c.SegmentsTopic = topics.Segments
	}
	if c.SegmentDefinitionsTopic == "" {
		c.SegmentDefinitionsTopic = topics.SegmentDefinitions
	}
	if c.PrivacyTopic == "" {
		c.PrivacyTopic = topics.Privacy
	}
	if c.ReceiptsTopic == "" {
		c.ReceiptsTopic = topics.PrivacyReceipts
	}
	return c
}

// Store is the state the engine keeps outside the process (package store over Redis).
type Store interface {
	Apply(ctx context.Context, f signal.Feedback) (bool, error)
	History(ctx context.Context, user string) ([]store.Entry, error)
	Histories(ctx context.Context, users []string) (map[string][]store.Entry, error)
	ActiveUsers(ctx context.Context, limit int, since time.Time) ([]string, error)
	OrderItems(ctx context.Context, user, orderID string) ([]string, error)
	ListItems(ctx context.Context, user, scene string) ([]store.ListItem, error)
	PutLists(ctx context.Context, scene string, lists map[string]*recommendationv1.RecommendResponse, ttl time.Duration) error
	DeleteList(ctx context.Context, user, scene string) error
	PutCatalogItem(ctx context.Context, it *eventv1.CatalogItem) error
	DeleteCatalogItem(ctx context.Context, itemID string) error
	Catalog(ctx context.Context) ([]*eventv1.CatalogItem, error)
	PutInterests(ctx context.Context, user string, interests []string) error
	SetSegment(ctx context.Context, user, segmentID string, member bool) error
	Traits(ctx context.Context, user string) (store.Traits, error)
	TraitsOf(ctx context.Context, users []string) (map[string]store.Traits, error)
	PutSegmentName(ctx context.Context, segmentID, name string) error
	SegmentNames(ctx context.Context) (map[string]string, error)
	EraseUser(ctx context.Context, user string) (int64, error)
	AddRun(ctx context.Context, run *recommendationv1.TrainingRun, keep int) error
	Runs(ctx context.Context, limit int) ([]*recommendationv1.TrainingRun, error)
}

// Engine applies events, trains and serves.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	store Store
	now   func() time.Time

	model   atomic.Pointer[snapshot]
	catalog *catalog
	popular *trending
	names   segmentNames

	content      atomic.Pointer[content.Model]
	contentFit   *content.Builder
	contentMu    sync.Mutex // serialises RefreshContent; guards contentBuilt
	contentBuilt int64      // catalog version of the content model

	trainMu sync.Mutex // held while a run trains: one at a time
	run     atomic.Pointer[recommendationv1.TrainingRun]
	runMu   sync.Mutex // guards runDone
	runDone chan struct{}
	runSeq  atomic.Int64
	applied atomic.Int64 // events applied; training skips when none since the last run
	trained atomic.Int64

	redisDownUntil atomic.Int64 // unix nanoseconds; see requestContext

	lifetime context.Context // cancelled by Close: stops training runs
	close    context.CancelFunc

	requests metric.Int64Counter
	attrs    sync.Map // [3]string → metric.AddOption; see requestAttrs
	feedback metric.Int64Counter
	trainDur metric.Float64Histogram
}

// New returns an engine over st. log may be nil.
func New(cfg Config, st Store, log *slog.Logger) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := otel.Meter("github.com/stratahq/strata/services/recommendation")
	requests, err := m.Int64Counter("strata.recommendation.requests",
		metric.WithDescription("Lists served, by scene, source (cache, computed, popular, similar) and variant."))
	if err != nil {
		return nil, fmt.Errorf("engine: metric: %w", err)
	}
	feedback, err := m.Int64Counter("strata.recommendation.feedback",
		metric.WithDescription("Recommendation Shown and Clicked events, by variant and action: clicks/shown is the variant's CTR."))
	if err != nil {
		return nil, fmt.Errorf("engine: metric: %w", err)
	}
	trainDur, err := m.Float64Histogram("strata.recommendation.training.duration",
		metric.WithDescription("Duration of training runs, by outcome."), metric.WithUnit("s"))
	if err != nil {
		return nil, fmt.Errorf("engine: metric: %w", err)
	}
	lifetime, cancel := context.WithCancel(context.Background())
	return &Engine{
		cfg: cfg, log: log, store: st, now: time.Now,
		catalog: newCatalog(), popular: newTrending(cfg.HalfLife),
		contentFit: content.NewBuilder(cfg.Tokenizer),
		lifetime:   lifetime, close: cancel,
		requests: requests, feedback: feedback, trainDur: trainDur,
	}, nil
}

// Close stops a training run in progress and waits for it to end.
func (e *Engine) Close() {
	e.close()
	e.trainMu.Lock()
	defer e.trainMu.Unlock()
}

// Config returns the engine's configuration, defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// Variant returns the variant user is assigned to: the FNV-1a hash of the user id, mod
// 100, falls in one variant's share. The assignment is stable across instances and
// restarts, and changes only when the shares do.
func (e *Engine) Variant(user string) Variant {
	bucket := int(fnv1a(fnv1a(offset32, variantSalt), user) % 100)
	for _, v := range e.cfg.Variants {
		if bucket < v.Share {
			return v
		}
		bucket -= v.Share
	}
	return e.cfg.Variants[len(e.cfg.Variants)-1]
}

// FNV-1a, 32 bits, written out so that assigning a variant on every request does not
// allocate (hash/fnv's hasher escapes to the heap).
const (
	offset32    = 2166136261
	prime32     = 16777619
	variantSalt = "strata-recommendation-ab:"
)

func fnv1a(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= prime32
	}
	return h
}

// Handle is the bus handler for strata.events.v1, strata.catalog.v1,
// strata.segments.v1, strata.segment-definitions.v1 and strata.privacy.v1. It is
// idempotent: the store ignores events it applied before, catalog and segment-name writes
// are last-writer-wins, segment enter/exit set a membership and an erasure deletes what
// is there. Undecodable messages are permanent errors; store errors are retried.
func (e *Engine) Handle(ctx context.Context, msg bus.Message) error {
	switch msg.Topic {
	case e.cfg.CatalogTopic:
		return e.handleCatalog(ctx, msg)
	case e.cfg.SegmentsTopic:
		return e.handleSegment(ctx, msg)
	case e.cfg.SegmentDefinitionsTopic:
		return e.handleSegmentDefinition(ctx, msg)
	case e.cfg.PrivacyTopic:
		return e.handlePrivacy(ctx, msg)
	}
	ev := &eventv1.Event{}
	if err := bus.DecodeProto(msg, ev); err != nil {
		return err
	}
	user := string(msg.Key)
	if user == "" {
		return bus.Permanent(errors.New("engine: event without a key"))
	}
	f := signal.FromEvent(user, ev, e.cfg.Weights)
	if f.Interests != nil {
		if err := e.store.PutInterests(ctx, user, f.Interests); err != nil {
			return err
		}
	}
	if f.Shown || f.Clicked {
		action := "shown"
		if f.Clicked {
			action = "clicked"
		}
		e.feedback.Add(ctx, 1, metric.WithAttributes(attribute.String("variant", f.Variant), attribute.String("action", action)))
		return nil
	}
	_, err := e.apply(ctx, user, f)
	return err
}

// apply records f in the user's history, feeds the catalog and trending counts when it
// is new, and refreshes the user's lists at once after a purchase or a negative signal.
// It reports whether f was new.
func (e *Engine) apply(ctx context.Context, user string, f signal.Feedback) (bool, error) {
	applied, err := e.store.Apply(ctx, f)
	if err != nil {
		return false, err
	}
	if applied {
		e.applied.Add(1)
		for _, s := range f.Signals {
			e.catalog.learn(s)
			if s.Weight > 0 && s.Negative != signal.Set {
				e.popular.add(s.Item, s.Weight, f.Time)
			}
		}
	}
	if f.Refresh() {
		// A purchase or a negative signal changes what must not be shown: refresh now.
		// Re-running it on a redelivery is harmless.
		if err := e.Refresh(ctx, user); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func (e *Engine) handleCatalog(ctx context.Context, msg bus.Message) error {
	id := string(msg.Key)
	if msg.Value == nil {
		if id == "" {
			return bus.Permanent(errors.New("engine: catalog tombstone without a key"))
		}
		if err := e.store.DeleteCatalogItem(ctx, id); err != nil {
			return err
		}
		e.catalog.remove(id)
		return nil
	}
	it := &eventv1.CatalogItem{}
	if err := bus.DecodeProto(msg, it); err != nil {
		return err
	}
	if it.GetItemId() == "" {
		return bus.Permanent(errors.New("engine: catalog item without an id"))
	}
	if err := e.store.PutCatalogItem(ctx, it); err != nil {
		return err
	}
	e.catalog.put(it)
	return nil
}

// LoadCatalog replaces the in-memory catalog and segment names with the store's, which
// hold those every instance consumed.
func (e *Engine) LoadCatalog(ctx context.Context) error {
	items, err := e.store.Catalog(ctx)
	if err != nil {
		return err
	}
	names, err := e.store.SegmentNames(ctx)
	if err != nil {
		return err
	}
	e.catalog.replace(items)
	e.names.replace(names)
	return nil
}

// trending is the in-memory popularity: time-decayed positive weight per item, seeded by
// each training from every history and updated by every applied event since. It is the
// fallback when nothing else answers. Readers get an immutable ranking rebuilt at most
// every rankingMaxAge while events arrive. Safe for concurrent use.
type trending struct {
	mu       sync.Mutex
	halfLife time.Duration
	weights  map[string]float64
	at       time.Time // weights are relative to at
	ranking  *ranking
	builtAt  time.Time
	dirty    bool
}

// ranking is a snapshot of the popularity: items by decreasing weight (ties by id).
type ranking struct {
	sorted  []string
	weights map[string]float64
}

// rankingMaxAge bounds how stale the popular ranking gets while events keep arriving.
const rankingMaxAge = 100 * time.Millisecond

func newTrending(halfLife time.Duration) *trending {
	return &trending{halfLife: halfLife, weights: map[string]float64{}}
}

// add counts weight w at time at. Weights are kept relative to t.at: an event at time τ
// counts w·2^((τ−t.at)/halfLife), which ranks exactly as decaying every weight to τ
// would, without touching the others. Training rebases them (reset).
func (t *trending) add(item string, w float64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at.IsZero() {
		t.at = at
	}
	if t.halfLife > 0 {
		w *= math.Exp2(float64(at.Sub(t.at)) / float64(t.halfLife))
	}
	t.weights[item] += w
	t.dirty = true
}

func (t *trending) reset(weights map[string]float64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.weights, t.at, t.ranking = weights, at, nil
}

// top returns the current ranking; the caller must not modify it.
func (t *trending) top() *ranking {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ranking != nil && (!t.dirty || time.Since(t.builtAt) < rankingMaxAge) {
		return t.ranking
	}
	r := &ranking{weights: make(map[string]float64, len(t.weights))}
	for it, w := range t.weights {
		if w > 0 {
			r.sorted = append(r.sorted, it)
			r.weights[it] = w
		}
	}
	sort.Slice(r.sorted, func(i, j int) bool {
		a, b := r.sorted[i], r.sorted[j]
		if r.weights[a] != r.weights[b] {
			return r.weights[a] > r.weights[b]
		}
		return a < b
	})
	t.ranking, t.builtAt, t.dirty = r, time.Now(), false
	return r
}

func (e *Engine) newRunID() string {
	return strconv.FormatInt(e.now().Unix(), 10) + "-" + strconv.FormatInt(e.runSeq.Add(1), 10)
}

func cloneRun(r *recommendationv1.TrainingRun) *recommendationv1.TrainingRun {
	if r == nil {
		return nil
	}
	return proto.CloneOf(r)
}

func quote(s string) string { return "“" + strings.TrimSpace(s) + "”" }
