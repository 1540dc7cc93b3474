// Package scoring is the online side of the prediction service. An Engine folds
// strata.events.v1 into one features.State per user (the feature code training uses),
// treats strata.profiles.v1 changes as a reason to rescore, and, after a debounce
// interval without further changes, scores the user with the promoted models of the
// registry and publishes a predictionv1.Prediction to the compacted
// strata.predictions.v1, keyed by user id. It answers Predict and Explain from the same
// state, trains new model versions from it on demand or on a schedule, and promotes
// them only if they are not worse than the promoted ones on the same validation window.
// Right to erasure: an erasure request on strata.privacy.v1 (HandlePrivacy, on a consumer
// group of its own) or a profile tombstone drops the user's state and tombstones the
// user's prediction on strata.predictions.v1 (see Erase); events of the user recorded
// before the erasure are not folded in again, neither when a lagging consumer delivers
// them later nor when a restart replays the retained history. The service keeps no
// per-user data anywhere else: it has no Redis, and explanations are computed on
// request from the in-memory state.
//
// Delivery: handlers are idempotent (an event at or below the last applied offset of
// its partition is skipped, and a state applies an event id once), so a redelivered
// message changes nothing. A prediction is published only when it differs from the last one published
// for the user (scores moved by at least 0.001, the value by a cent, or a model version
// changed): the profile service applies predictions to profiles and republishes them,
// and this keeps that loop from cycling.
//
// State lives in memory and is rebuilt at start-up (Config.WarmUp) from the retained
// history of strata.events.v1 (30 days by default): history older than the topic's
// retention is not seen by a restarted instance.
//
// Batch scoring (StartScoringRun) scores every known user in the background, in
// chunks that interleave with live traffic, publishing to the same topic with the same
// change test unless asked to republish; its progress (users scored and published,
// rate) is readable at any time, and it can be cancelled between chunks.
//
// An Engine is safe for concurrent use.
package scoring

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	predictionv1 "github.com/stratahq/strata/proto/strata/prediction/v1"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/prediction/clv"
	"github.com/stratahq/strata/services/prediction/demand"
	"github.com/stratahq/strata/services/prediction/features"
	"github.com/stratahq/strata/services/prediction/learn"
	"github.com/stratahq/strata/services/prediction/metrics"
	"github.com/stratahq/strata/services/prediction/model"
	"github.com/stratahq/strata/services/prediction/registry"
)

// Registry model names.
const (
	ModelPropensity = "purchase_propensity"
	ModelChurn      = "churn_risk"
	ModelCLV        = "lifetime_value"
	ModelDemand     = "category_demand"
)

// PriorCLVVersion is the CLV version registered when the registry has none: the
// parameters Fader, Hardie & Lee published for the CDNOW sample (weeks), a neutral
// starting point until enough local history exists to fit.
const PriorCLVVersion = "prior-cdnow-2005"

// Errors.
var (
	// ErrUnknownUser is returned for a user the engine has seen no event of.
	ErrUnknownUser = errors.New("scoring: unknown user")
	// ErrNoModel is returned when the requested model has no promoted version.
	ErrNoModel = errors.New("scoring: no promoted model")
	// ErrNotEnoughData is reported when a training set is too small or one-class.
	ErrNotEnoughData = errors.New("scoring: not enough training data")
	// ErrIncompleteRequest is returned (as permanent) for a privacy request without a
	// user or request id.
	ErrIncompleteRequest = errors.New("scoring: privacy request without a user or request id")
)

// Publisher publishes messages; *bus.Producer implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Config configures an Engine; zero fields take the defaults.
type Config struct {
	// Debounce is how long a user must stay unchanged before being rescored;
	// default 1s.
	Debounce time.Duration `env:"PREDICTION_DEBOUNCE"`
	// PurchaseHorizon is the propensity horizon H: P(order in the next H); default
	// 14 days.
	PurchaseHorizon time.Duration `env:"PREDICTION_PURCHASE_HORIZON"`
	// ChurnWindow and ChurnHorizon define churn: no activity in the next
	// ChurnHorizon for a user active in the last ChurnWindow; default 30 days each.
	ChurnWindow  time.Duration `env:"PREDICTION_CHURN_WINDOW"`
	ChurnHorizon time.Duration `env:"PREDICTION_CHURN_HORIZON"`
	// CategoryHorizon is the validation window of category demand: a model fitted
	// to the purchases before now−CategoryHorizon is measured on each user's first
	// purchase after it; default 30 days.
	CategoryHorizon time.Duration `env:"PREDICTION_CATEGORY_HORIZON"`
	// RetrainInterval schedules training; default 24h, negative disables it.
	RetrainInterval time.Duration `env:"PREDICTION_RETRAIN_INTERVAL"`
	// MinExamples is the smallest training or validation set, per class at least
	// a tenth of it; default 200.
	MinExamples int `env:"PREDICTION_MIN_EXAMPLES"`
	// Learner trains propensity and churn; default logistic regression, the learner
	// with the best AUC on the time-based validation split of the CDNOW propensity
	// task (`strata eval propensity` prints it as "selected").
	Learner model.Learner `env:"PREDICTION_LEARNER"`
	// Seed makes training reproducible.
	Seed uint64 `env:"PREDICTION_SEED"`
	// Now is the clock; time.Now when nil.
	Now func() time.Time `env:"-"`
	// ProfilesTopic and PredictionsTopic override the topic names (tests use
	// their own); the pkg/topics constants by default. Messages from any other
	// topic are events.
	ProfilesTopic    string `env:"-"`
	PredictionsTopic string `env:"-"`
	// ReceiptsTopic receives the erasure receipts (strata.privacy.receipts.v1 by
	// default).
	ReceiptsTopic string `env:"-"`
	// WarmUp, when set, rebuilds state at the start of Run by calling apply for
	// every retained event with its record time (the service reads
	// strata.events.v1 from its oldest offset). Nothing is published until it
	// returns.
	WarmUp func(ctx context.Context, apply func(partition int32, at time.Time, ev *eventv1.Event)) (int, error) `env:"-"`
	// WarmUpErasures, when set, is called at the start of Run before WarmUp, with
	// erase to call for every retained erasure request (user id and record time),
	// so that the warm-up does not rebuild the state of erased users from their
	// events recorded before the erasure; and once more after WarmUp, for the
	// requests published meanwhile. When it fails, WarmUp is skipped: state is then
	// built from the events consumed from here on, and no erased user comes back.
	WarmUpErasures func(ctx context.Context, erase func(userID string, at time.Time)) (int, error) `env:"-"`
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Debounce, time.Second)
	def(&c.PurchaseHorizon, 14*24*time.Hour)
	def(&c.ChurnWindow, 30*24*time.Hour)
	def(&c.ChurnHorizon, 30*24*time.Hour)
	def(&c.CategoryHorizon, 30*24*time.Hour)
	def(&c.RetrainInterval, 24*time.Hour)
	if c.MinExamples <= 0 {
		c.MinExamples = 200
	}
	if c.Learner == "" {
		c.Learner = model.LogisticRegression
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ProfilesTopic == "" {
		c.ProfilesTopic = topics.Profiles
	}
	if c.PredictionsTopic == "" {
		c.PredictionsTopic = topics.Predictions
	}
	if c.ReceiptsTopic == "" {
		c.ReceiptsTopic = topics.PrivacyReceipts
	}
	return c
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	for _, d := range []time.Duration{c.Debounce, c.PurchaseHorizon, c.ChurnWindow, c.ChurnHorizon, c.CategoryHorizon} {
		if d < 0 {
			return fmt.Errorf("scoring: durations must not be negative, got %v", d)
		}
	}
	switch c.Learner {
	case "", model.GradientBoostedTrees, model.RandomForest, model.LogisticRegression, model.Ensemble:
		return nil
	}
	return fmt.Errorf("%w: %q", model.ErrUnknownLearner, c.Learner)
}

type user struct {
	state features.State
	// profileAt is the profile's applied event position last seen, to tell event
	// changes from prediction-only profile updates.
	profileAt int64
	last      *predictionv1.Prediction // last published
}

type loaded struct {
	propensity, churn                *model.Classifier
	clv                              *model.CLV
	demand                           *demand.Model
	vPropensity, vChurn, vC, vDemand string
}

// Engine scores users online. Build it with New.
type Engine struct {
	cfg Config
	log *slog.Logger
	reg *registry.Registry
	pub Publisher

	mu      sync.Mutex
	users   map[string]*user
	dirty   map[string]time.Time
	applied map[int32]int64 // events partition → last applied offset
	// erased holds each erased user's latest erasure (record time): events recorded
	// up to then are not applied. It holds the users erased since start-up and those
	// of the requests strata.privacy.v1 retained then: erasures are rare, and Kafka
	// drops old records by segment, so an age limit could forget an erasure while
	// events recorded before it are still retained.
	erased map[string]time.Time

	// pubMu orders the publishing of predictions and of erasure tombstones: a
	// prediction scored before an erasure is either dropped or published before
	// the tombstone, never after it.
	pubMu sync.Mutex

	models atomic.Pointer[loaded]
	scored atomic.Int64

	// life bounds background batch runs; stop ends it (Close, end of Run).
	life    context.Context
	stop    context.CancelFunc
	batchWG sync.WaitGroup
	batches batches
}

// New returns an engine scoring with the promoted versions of reg and publishing to
// pub. It registers and promotes the prior CLV version if reg has no CLV model.
func New(cfg Config, reg *registry.Registry, pub Publisher, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg: cfg.withDefaults(), log: log, reg: reg, pub: pub,
		users: map[string]*user{}, dirty: map[string]time.Time{}, applied: map[int32]int64{}, erased: map[string]time.Time{},
	}
	e.life, e.stop = context.WithCancel(context.Background())
	if _, ok := reg.Current(ModelCLV); !ok {
		prior := model.CLV{
			BGNBD:      clv.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
			GammaGamma: clv.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44},
			Months:     12, MonthlyDiscount: model.DefaultMonthlyDiscount,
		}
		v := registry.Version{Model: ModelCLV, Version: PriorCLVVersion, Learner: "bgnbd+gamma_gamma", TrainedAt: time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := reg.Register(v, prior); err != nil && !errors.Is(err, registry.ErrExists) {
			return nil, err
		}
		if err := reg.PromoteAgainst(ModelCLV, PriorCLVVersion, nil); err != nil {
			return nil, err
		}
	}
	if err := e.LoadModels(); err != nil {
		return nil, err
	}
	return e, nil
}

// LoadModels reads the promoted versions from the registry.
func (e *Engine) LoadModels() error {
	l := &loaded{}
	load := func(name string, into any) (string, error) {
		ent, ok := e.reg.Current(name)
		if !ok {
			return "", nil
		}
		if err := json.Unmarshal(ent.Artifact, into); err != nil {
			return "", fmt.Errorf("scoring: load %s/%s: %w", name, ent.Version.Version, err)
		}
		return ent.Version.Version, nil
	}
	var err error
	var p, c model.Classifier
	var v model.CLV
	if l.vPropensity, err = load(ModelPropensity, &p); err != nil {
		return err
	}
	if l.vPropensity != "" {
		l.propensity = &p
	}
	if l.vChurn, err = load(ModelChurn, &c); err != nil {
		return err
	}
	if l.vChurn != "" {
		l.churn = &c
	}
	if l.vC, err = load(ModelCLV, &v); err != nil {
		return err
	}
	if l.vC != "" {
		l.clv = &v
	}
	var d demand.Model
	if l.vDemand, err = load(ModelDemand, &d); err != nil {
		return err
	}
	if l.vDemand != "" {
		l.demand = &d
	}
	e.models.Store(l)
	return nil
}

// Handle is the consumer handler for strata.events.v1 and strata.profiles.v1.
func (e *Engine) Handle(ctx context.Context, msg bus.Message) error {
	if msg.Topic == e.cfg.ProfilesTopic {
		return e.handleProfile(ctx, msg)
	}
	var ev eventv1.Event
	if err := bus.DecodeProto(msg, &ev); err != nil {
		return err
	}
	e.apply(int32(msg.Partition), msg.Offset, msg.Time, &ev)
	return nil
}

// Apply folds one event, consumed from the given partition and offset, into its
// user's state. An offset at or below the partition's last applied one is skipped; a
// negative offset is always applied (replays from files).
func (e *Engine) Apply(partition int32, offset int64, ev *eventv1.Event) {
	e.apply(partition, offset, time.Time{}, ev)
}

// apply is Apply for an event recorded at the given time (zero when unknown): an event
// recorded at or before its user's erasure is skipped.
func (e *Engine) apply(partition int32, offset int64, at time.Time, ev *eventv1.Event) {
	id := ev.GetUserId()
	if id == "" {
		return // anonymous activity has no user to score
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if offset >= 0 {
		if last, ok := e.applied[partition]; ok && offset <= last {
			return
		}
		e.applied[partition] = offset
	}
	if erasedAt, ok := e.erased[id]; ok && !at.IsZero() && !at.After(erasedAt) {
		return // recorded before the user's erasure
	}
	u := e.users[id]
	if u == nil {
		u = &user{profileAt: -1}
		e.users[id] = u
	}
	if u.state.Apply(ev) {
		e.dirty[id] = e.cfg.Now()
	}
}

func (e *Engine) handleProfile(ctx context.Context, msg bus.Message) error {
	id := string(msg.Key)
	if msg.Value == nil {
		// A profile tombstone erases the user. It is written after the erasure
		// request, so its time is not the erasure's: the request (HandlePrivacy)
		// records that.
		_, err := e.Erase(ctx, id, time.Time{})
		return err
	}
	var p profilev1.Profile
	if err := bus.DecodeProto(msg, &p); err != nil {
		return err
	}
	if p.GetUserId() != "" {
		id = p.GetUserId()
	}
	at := p.GetApplied().GetOffset()
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users[id]
	if u == nil || u.profileAt == at {
		return nil // unknown user, or a change that is not new events (e.g. our own prediction)
	}
	u.profileAt = at
	e.dirty[id] = e.cfg.Now()
	return nil
}

// ErasureOf returns the erasure request msg (a strata.privacy.v1 record) carries, with
// the user id taken from the key when the value names none; nil and no error for a
// request of another action; a permanent error for an undecodable request or one
// without a user or request id.
func ErasureOf(msg bus.Message) (*privacyv1.PrivacyRequest, error) {
	r := &privacyv1.PrivacyRequest{}
	if err := bus.DecodeProto(msg, r); err != nil {
		return nil, err
	}
	if r.GetUserId() == "" {
		r.UserId = string(msg.Key)
	}
	if r.GetUserId() == "" || r.GetRequestId() == "" {
		return nil, bus.Permanent(fmt.Errorf("%w at %s/%d/%d", ErrIncompleteRequest, msg.Topic, msg.Partition, msg.Offset))
	}
	if r.GetAction() != privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE {
		return nil, nil
	}
	return r, nil
}

// ReceiptService is the service name of the prediction service's erasure receipts.
const ReceiptService = "prediction"

// HandlePrivacy is the consumer handler for strata.privacy.v1: an erasure request erases
// its user (Erase, as of the request's record time), then the receipt is published to
// strata.privacy.receipts.v1, keyed by request id and service. Requests of other
// actions are skipped. A redelivered request finds no state left and publishes the
// tombstone and the receipt (with no items) again, which changes nothing.
func (e *Engine) HandlePrivacy(ctx context.Context, msg bus.Message) error {
	r, err := ErasureOf(msg)
	if err != nil || r == nil {
		return err
	}
	n, err := e.Erase(ctx, r.GetUserId(), msg.Time)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(&privacyv1.ErasureReceipt{RequestId: r.GetRequestId(), UserId: r.GetUserId(), Service: ReceiptService,
		CompletedAt: timestamppb.New(e.cfg.Now()), Items: int64(n)})
	if err != nil {
		return fmt.Errorf("scoring: encode erasure receipt: %w", err)
	}
	key := privacyv1.ReceiptKey(r.GetRequestId(), ReceiptService)
	if err := e.pub.Publish(ctx, bus.Message{Topic: e.cfg.ReceiptsTopic, Key: key, Value: b}); err != nil {
		return fmt.Errorf("scoring: publish erasure receipt: %w", err)
	}
	// The log names the request, never the user.
	e.log.InfoContext(ctx, "prediction state erased", slog.String("request_id", r.GetRequestId()), slog.Int("items", n))
	return nil
}

// Erase carries out the right to erasure for userID, requested at at (the record time
// of the request; zero when unknown): it drops the user's feature state, so Predict,
// Explain and scoring runs no longer know the user; remembers the erasure, so that
// events recorded up to at and delivered afterwards are not applied; and publishes a
// tombstone (nil value) keyed by the user to strata.predictions.v1, after any
// prediction of the user being published, so that compacted readers and restores
// forget the scores. It blocks until Kafka acknowledged the tombstone and returns how
// many items it removed: 1 for the user's state, 0 when there was none (run again, or a
// user never seen). Events recorded after at start a fresh state.
func (e *Engine) Erase(ctx context.Context, userID string, at time.Time) (int, error) {
	e.mu.Lock()
	n := e.forget(userID, at)
	e.mu.Unlock()
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	if err := e.pub.Publish(ctx, bus.Message{Topic: e.cfg.PredictionsTopic, Key: []byte(userID)}); err != nil {
		return n, fmt.Errorf("scoring: tombstone prediction of erased user: %w", err)
	}
	return n, nil
}

// forget drops userID's state and records the erasure at at; it returns how many states
// it dropped (0 or 1). e.mu is held.
func (e *Engine) forget(userID string, at time.Time) int {
	n := 0
	if e.users[userID] != nil {
		n = 1
	}
	delete(e.users, userID)
	delete(e.dirty, userID)
	if last, ok := e.erased[userID]; !at.IsZero() && (!ok || at.After(last)) {
		e.erased[userID] = at
	}
	return n
}

// Run rebuilds state with Config.WarmUp, if set, then flushes due users every half
// debounce interval and retrains on schedule until ctx is done; without a promoted
// propensity model it trains once right after the warm-up. On return, a running batch
// scoring run has been cancelled.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.WarmUp != nil && e.warmUpErasures(ctx) {
		start := time.Now()
		n, err := e.cfg.WarmUp(ctx, func(p int32, at time.Time, ev *eventv1.Event) { e.apply(p, -1, at, ev) })
		if err != nil && ctx.Err() == nil {
			// Scoring goes on with the state the consumer builds from here.
			e.log.Warn("scoring: warm-up failed", slog.Int("events", n), slog.Any("error", err))
		} else {
			e.log.Info("scoring: warm-up done", slog.Int("events", n), slog.Duration("took", time.Since(start)))
		}
		// Requests published while the events were read (another instance may have
		// carried them out and committed them for the group) erase what the warm-up
		// rebuilt.
		e.warmUpErasures(ctx)
	}
	tick := time.NewTicker(max(e.cfg.Debounce/2, 10*time.Millisecond))
	defer tick.Stop()
	var retrain, first <-chan time.Time
	if e.cfg.RetrainInterval > 0 {
		t := time.NewTicker(e.cfg.RetrainInterval)
		defer t.Stop()
		retrain = t.C
		if e.models.Load().propensity == nil {
			// A new instance (or an empty model directory) trains at once from
			// the warmed-up state rather than a retrain interval later.
			first = time.After(0)
		}
	}
	for {
		select {
		case <-ctx.Done():
			e.Close()
			// Publish what is due; the rest is rescored by the next event.
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := e.Flush(flushCtx, false)
			cancel()
			if err != nil {
				e.log.Warn("scoring: final flush", slog.Any("error", err))
			}
			return nil
		case <-tick.C:
			if err := e.Flush(ctx, false); err != nil && ctx.Err() == nil {
				e.log.Warn("scoring: flush", slog.Any("error", err))
			}
		case <-retrain:
			e.scheduledTrain(ctx)
		case <-first:
			e.scheduledTrain(ctx)
		}
	}
}

// warmUpErasures runs Config.WarmUpErasures, if set, and reports whether the event
// warm-up may run. Each erasure not known yet drops the user's state.
func (e *Engine) warmUpErasures(ctx context.Context) bool {
	if e.cfg.WarmUpErasures == nil {
		return true
	}
	n, err := e.cfg.WarmUpErasures(ctx, func(userID string, at time.Time) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if known, ok := e.erased[userID]; !ok || at.After(known) {
			e.forget(userID, at)
		}
	})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("scoring: erasures unreadable, warm-up skipped", slog.Int("erasures", n), slog.Any("error", err))
		}
		return false
	}
	return true
}

func (e *Engine) scheduledTrain(ctx context.Context) {
	if rep, err := e.Train(ctx); err != nil {
		e.log.Warn("scoring: scheduled training", slog.Any("error", err))
	} else {
		e.log.Info("scoring: scheduled training", slog.Any("report", rep))
	}
}

// Close cancels a running batch scoring run and waits for it to stop. The engine
// still answers and scores online afterwards; only new batch runs end at once.
func (e *Engine) Close() {
	e.stop()
	e.batchWG.Wait()
}

// Flush scores the users whose last change is at least the debounce interval old (all
// dirty users when force is set) and publishes the predictions that changed. Users
// whose publish failed stay due.
func (e *Engine) Flush(ctx context.Context, force bool) error {
	now := e.cfg.Now()
	var o outbox
	e.mu.Lock()
	for id, at := range e.dirty {
		if !force && now.Sub(at) < e.cfg.Debounce {
			continue
		}
		u := e.users[id]
		if u == nil {
			delete(e.dirty, id)
			continue
		}
		queued, err := e.queue(&o, id, u, now, false)
		if err != nil {
			e.mu.Unlock()
			return err
		}
		if !queued {
			delete(e.dirty, id)
		}
	}
	e.mu.Unlock()
	return e.send(ctx, &o, func(id string) {
		// A change after scoring keeps the user due.
		if at, ok := e.dirty[id]; ok && !at.After(now) {
			delete(e.dirty, id)
		}
	})
}

// outbox collects scored predictions for one publish.
type outbox struct {
	msgs  []bus.Message
	ids   []string
	preds []*predictionv1.Prediction
	users []*user // the state each prediction was scored from
}

func (o *outbox) reset() {
	o.msgs, o.ids, o.preds, o.users = o.msgs[:0], o.ids[:0], o.preds[:0], o.users[:0]
}

// dropErased removes the predictions whose user was erased since they were scored (the
// user's state is no longer the one scored); e.mu is held.
func (o *outbox) dropErased(users map[string]*user) {
	j := 0
	for i, id := range o.ids {
		if users[id] != o.users[i] {
			continue
		}
		o.msgs[j], o.ids[j], o.preds[j], o.users[j] = o.msgs[i], id, o.preds[i], o.users[i]
		j++
	}
	o.msgs, o.ids, o.preds, o.users = o.msgs[:j], o.ids[:j], o.preds[:j], o.users[:j]
}

// queue scores u as of now and queues its prediction, unless it equals the last one
// published and always is false; it reports whether it queued. e.mu is held.
func (e *Engine) queue(o *outbox, id string, u *user, now time.Time, always bool) (bool, error) {
	p := e.score(id, u, now)
	if !always && !changed(u.last, p) {
		return false, nil
	}
	b, err := proto.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("scoring: marshal prediction: %w", err)
	}
	o.msgs = append(o.msgs, bus.Message{Topic: e.cfg.PredictionsTopic, Key: []byte(id), Value: b})
	o.ids = append(o.ids, id)
	o.preds = append(o.preds, p)
	o.users = append(o.users, u)
	return true, nil
}

// send publishes the queued predictions, then, under e.mu, records each as its user's
// last published one and calls done with the user id (done may be nil).
func (e *Engine) send(ctx context.Context, o *outbox, done func(id string)) error {
	if len(o.msgs) == 0 {
		return nil
	}
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	e.mu.Lock()
	o.dropErased(e.users)
	e.mu.Unlock()
	if len(o.msgs) == 0 {
		return nil
	}
	if err := e.pub.Publish(ctx, o.msgs...); err != nil {
		return fmt.Errorf("scoring: publish %d prediction(s): %w", len(o.msgs), err)
	}
	e.mu.Lock()
	for i, id := range o.ids {
		if u := e.users[id]; u != nil {
			u.last = o.preds[i]
		}
		if done != nil {
			done(id)
		}
	}
	e.mu.Unlock()
	e.scored.Add(int64(len(o.msgs)))
	return nil
}

// Published returns how many predictions the engine has published.
func (e *Engine) Published() int64 { return e.scored.Load() }

func changed(old, p *predictionv1.Prediction) bool {
	if old == nil {
		return true
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-3 }
	if !near(old.GetPurchasePropensity(), p.GetPurchasePropensity()) || !near(old.GetChurnRisk(), p.GetChurnRisk()) ||
		!near(old.GetPAlive(), p.GetPAlive()) || old.GetClvMinor() != p.GetClvMinor() || old.GetCurrency() != p.GetCurrency() {
		return true
	}
	if len(old.GetModelVersions()) != len(p.GetModelVersions()) {
		return true
	}
	for k, v := range p.GetModelVersions() {
		if old.GetModelVersions()[k] != v {
			return true
		}
	}
	return false
}

// score computes a user's prediction as of now; e.mu is held.
func (e *Engine) score(id string, u *user, now time.Time) *predictionv1.Prediction {
	m := e.models.Load()
	p := &predictionv1.Prediction{
		UserId: id, ScoredAt: timestamppb.New(now), ModelVersions: map[string]string{},
		Currency: u.state.Currency(),
	}
	x := u.state.Vector(now)
	if m.propensity != nil {
		p.PurchasePropensity = m.propensity.Predict(x)
		p.ModelVersions[ModelPropensity] = m.vPropensity
	}
	if m.churn != nil {
		p.ChurnRisk = m.churn.Predict(x)
		p.ModelVersions[ModelChurn] = m.vChurn
	}
	if m.clv != nil {
		if s, ok := m.clv.Score(&u.state, now); ok {
			p.PAlive = s.PAlive
			p.ClvMinor = int64(math.Round(s.Value * 100))
			p.ModelVersions[ModelCLV] = m.vC
		}
	}
	return p
}

// user returns the state of a known user; e.mu is held.
func (e *Engine) user(id string) (*user, error) {
	if u := e.users[id]; u != nil {
		return u, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownUser, id)
}

// Predict returns the user's scores as of now.
func (e *Engine) Predict(_ context.Context, id string) (*predictionv1.Prediction, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.user(id)
	if err != nil {
		return nil, err
	}
	return e.score(id, u, e.cfg.Now()), nil
}

// Explain splits one model's score of the user into a base value and per-feature
// contributions that add up to score − base, with a sentence for the largest ones.
func (e *Engine) Explain(_ context.Context, id string, which predictionv1.Model) (*predictionv1.Explanation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.user(id)
	if err != nil {
		return nil, err
	}
	m := e.models.Load()
	now := e.cfg.Now()
	out := &predictionv1.Explanation{UserId: id, Model: which}
	var (
		c     *model.Classifier
		title string
	)
	switch which {
	case predictionv1.Model_MODEL_PURCHASE_PROPENSITY:
		c, title = m.propensity, "purchase propensity"
	case predictionv1.Model_MODEL_CHURN_RISK:
		c, title = m.churn, "churn risk"
	case predictionv1.Model_MODEL_LIFETIME_VALUE:
		if m.clv == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoModel, ModelCLV)
		}
		return explainCLV(out, m.clv, &u.state, now), nil
	case predictionv1.Model_MODEL_CATEGORY_DEMAND:
		if m.demand == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoModel, ModelDemand)
		}
		// The most likely category's probability, split by component.
		top := m.demand.Predict(&u.state, now)[0]
		out.Score = top.Probability
		out.Contributions = categoryContributions(top)
		return out, nil
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoModel, strings.ToLower(strings.TrimPrefix(which.String(), "MODEL_")))
	}
	x := u.state.Vector(now)
	ex := c.Explain(x)
	out.BaseValue, out.Score = ex.Base, ex.Score
	for _, d := range model.TopDrivers(ex, x, len(x)) {
		out.Contributions = append(out.Contributions, &predictionv1.Contribution{
			Feature: d.Feature, Value: d.Value, Contribution: d.Contribution, Text: d.Sentence(title),
		})
	}
	return out, nil
}

// PredictCategories returns the limit (default 3) categories the user is most likely to
// buy from next, with each probability split by component.
func (e *Engine) PredictCategories(_ context.Context, id string, limit int) (*predictionv1.CategoryPrediction, error) {
	if limit <= 0 {
		limit = 3
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.user(id)
	if err != nil {
		return nil, err
	}
	m := e.models.Load()
	if m.demand == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoModel, ModelDemand)
	}
	now := e.cfg.Now()
	out := &predictionv1.CategoryPrediction{UserId: id, ModelVersion: m.vDemand, ScoredAt: timestamppb.New(now)}
	scores := m.demand.Predict(&u.state, now)
	for _, sc := range scores[:min(limit, len(scores))] {
		out.Categories = append(out.Categories, &predictionv1.CategoryScore{
			Category: sc.Category, Probability: sc.Probability, Contributions: categoryContributions(sc), Text: sc.Sentence(sc.Main()),
		})
	}
	return out, nil
}

// categoryContributions lists a category score's components, largest first.
func categoryContributions(sc demand.Score) []*predictionv1.Contribution {
	out := make([]*predictionv1.Contribution, 0, demand.NumComponents)
	for k := range demand.NumComponents {
		out = append(out, &predictionv1.Contribution{Feature: demand.Names[k], Value: sc.Values[k], Contribution: sc.Parts[k], Text: sc.Sentence(k)})
	}
	slices.SortStableFunc(out, func(a, b *predictionv1.Contribution) int {
		return cmp.Compare(b.GetContribution(), a.GetContribution())
	})
	return out
}

// explainCLV splits the 12-month value exactly into two Shapley players against a
// reference customer of the same age: the purchase history (repeat count and
// recency) and the spend per order (the customer's own mean against the population's).
func explainCLV(out *predictionv1.Explanation, m *model.CLV, s *features.State, now time.Time) *predictionv1.Explanation {
	c, ok := clv.Summarize(s.Purchases(now), now, clv.Week)
	v := clv.Valuation{BGNBD: m.BGNBD, GammaGamma: m.GammaGamma, Months: m.Months, MonthlyDiscount: m.MonthlyDiscount}
	if !ok {
		return out
	}
	ref := clv.Summary{X: 0, TX: 0, T: c.T}
	value := func(history, spend bool) float64 {
		k, sp := ref, m.GammaGamma.ExpectedSpend(0, 0)
		if history {
			k = c.Summary
		}
		if spend {
			sp = m.GammaGamma.ExpectedSpend(c.X, c.MeanSpend)
		}
		return v.DiscountedPurchases(k) * sp
	}
	v00, v10, v01, v11 := value(false, false), value(true, false), value(false, true), value(true, true)
	history := ((v10 - v00) + (v11 - v01)) / 2
	spend := ((v01 - v00) + (v11 - v10)) / 2
	out.BaseValue, out.Score = v00, v11
	verb := func(x float64) string {
		if x < 0 {
			return "lowered"
		}
		return "raised"
	}
	out.Contributions = []*predictionv1.Contribution{
		{Feature: "purchase_history", Value: c.X, Contribution: history,
			Text: fmt.Sprintf("%s repeat purchases, the last %s weeks ago, %s the 12-month value by %.2f",
				trim(c.X), trim(c.T-c.TX), verb(history), math.Abs(history))},
		{Feature: "spend_per_order", Value: c.MeanSpend, Contribution: spend,
			Text: fmt.Sprintf("spending %.2f per repeat order %s the 12-month value by %.2f", c.MeanSpend, verb(spend), math.Abs(spend))},
	}
	if math.Abs(spend) > math.Abs(history) {
		out.Contributions[0], out.Contributions[1] = out.Contributions[1], out.Contributions[0]
	}
	return out
}

func timestampOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func trim(v float64) string { return fmt.Sprintf("%.0f", v) }

// TrainReport says what one training run did, per model.
type TrainReport struct {
	Models []TrainResult `json:"models"`
}

// TrainResult is one model's outcome.
type TrainResult struct {
	Model    string             `json:"model"`
	Version  string             `json:"version,omitempty"`
	Promoted bool               `json:"promoted"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	// Reason says why nothing was trained or promoted.
	Reason string `json:"reason,omitempty"`
}

// Train trains a new version of every model from the current states, registers it and
// promotes it if it is not worse than the promoted version on the same validation
// window, then loads the promoted versions. Propensity and churn use time-based
// validation: a model trained at cutoff now−2H (labels up to now−H) is validated at
// cutoff now−H (labels up to now), and that validated model is the artefact. The
// promoted version, trained at an earlier cutoff, is out of sample on the same window,
// so the comparison is fair.
func (e *Engine) Train(ctx context.Context) (TrainReport, error) {
	now := e.cfg.Now()
	e.mu.Lock()
	states := make(map[string]*features.State, len(e.users))
	for id, u := range e.users {
		states[id] = u.state.Clone()
	}
	e.mu.Unlock()

	var rep TrainReport
	classifiers := []struct {
		name    string
		horizon time.Duration
		label   features.Labeler
		spec    model.Spec
	}{
		{ModelPropensity, e.cfg.PurchaseHorizon, features.PurchaseWithin(e.cfg.PurchaseHorizon), model.PropensitySpec(e.cfg.Learner, e.cfg.Seed)},
		{ModelChurn, e.cfg.ChurnHorizon, features.ChurnWithin(e.cfg.ChurnWindow, e.cfg.ChurnHorizon), model.ChurnSpec(e.cfg.Learner, e.cfg.Seed)},
	}
	for _, c := range classifiers {
		res, err := e.trainClassifier(ctx, states, now, c.name, c.horizon, c.label, c.spec)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			res = TrainResult{Model: c.name, Reason: err.Error()}
		}
		rep.Models = append(rep.Models, res)
	}
	rep.Models = append(rep.Models, e.trainCLV(ctx, states, now), e.trainDemand(ctx, states, now))
	if err := e.LoadModels(); err != nil {
		return rep, err
	}
	return rep, nil
}

func (e *Engine) trainClassifier(ctx context.Context, states map[string]*features.State, now time.Time, name string,
	h time.Duration, label features.Labeler, spec model.Spec) (TrainResult, error) {
	valCut := now.Add(-h)
	trainCut := valCut.Add(-h)
	train := features.BuildTrainingSet(states, trainCut, label)
	val := features.BuildTrainingSet(states, valCut, label)
	for _, ts := range []features.TrainingSet{train, val} {
		if err := e.enough(ts); err != nil {
			return TrainResult{}, err
		}
	}
	candidate, err := model.Train(ctx, spec, train.X, train.Y)
	if err != nil {
		return TrainResult{}, err
	}
	met, curve, err := validate(candidate, val)
	if err != nil {
		return TrainResult{}, err
	}
	roc, importance, err := diagnose(candidate, val)
	if err != nil {
		return TrainResult{}, err
	}
	hash := dataHash(train)
	v := registry.Version{
		Model: name, Version: versionName(now, hash), Learner: string(spec.Learner), Features: features.Names[:],
		TrainedAt: now, WindowStart: firstEvent(states), WindowEnd: now, DataHash: hash, Metrics: met,
		Validation: &registry.Validation{
			Cutoff: val.Cutoff, Examples: len(val.Y), Positives: int(met["positives"]),
			Calibration: string(candidate.Calibration()), Curve: curve, ROC: roc, Importance: importance,
		},
	}
	if err := e.reg.Register(v, candidate); err != nil {
		return TrainResult{}, err
	}
	// The promoted version re-measured on the same validation window.
	var current map[string]float64
	if m := e.models.Load(); m != nil {
		var cur *model.Classifier
		if name == ModelPropensity {
			cur = m.propensity
		} else {
			cur = m.churn
		}
		if cur != nil {
			if current, err = evaluateOn(cur, val); err != nil {
				return TrainResult{}, err
			}
		}
	}
	res := TrainResult{Model: name, Version: v.Version, Metrics: met, Promoted: true}
	if err := e.reg.PromoteAgainst(name, v.Version, current); err != nil {
		if !errors.Is(err, registry.ErrWorse) {
			return TrainResult{}, err
		}
		res.Promoted, res.Reason = false, err.Error()
	}
	return res, nil
}

func (e *Engine) trainCLV(ctx context.Context, states map[string]*features.State, now time.Time) TrainResult {
	m, err := model.TrainCLV(ctx, states, now)
	if err != nil {
		return TrainResult{Model: ModelCLV, Reason: err.Error()}
	}
	if m.RepeatCustomers < e.cfg.MinExamples/10 {
		return TrainResult{Model: ModelCLV, Reason: fmt.Sprintf("%v: %d repeat customers", ErrNotEnoughData, m.RepeatCustomers)}
	}
	met := map[string]float64{"log_likelihood": m.LogLikelihood, "customers": float64(m.Customers)}
	v := registry.Version{
		Model: ModelCLV, Version: versionName(now, fmt.Sprintf("%016x", math.Float64bits(m.LogLikelihood))), Learner: "bgnbd+gamma_gamma",
		TrainedAt: now, WindowStart: firstEvent(states), WindowEnd: now, Metrics: met,
	}
	if err := e.reg.Register(v, m); err != nil {
		return TrainResult{Model: ModelCLV, Reason: err.Error()}
	}
	// Likelihoods of different data do not compare: the latest fit wins.
	if err := e.reg.PromoteAgainst(ModelCLV, v.Version, nil); err != nil {
		return TrainResult{Model: ModelCLV, Version: v.Version, Reason: err.Error()}
	}
	return TrainResult{Model: ModelCLV, Version: v.Version, Promoted: true, Metrics: met}
}

// trainDemand fits category demand to the purchases before now−CategoryHorizon and
// measures it, and the promoted version, on each user's first purchase after that; the
// candidate is promoted unless the promoted version has the better hit rate@3 there.
func (e *Engine) trainDemand(ctx context.Context, states map[string]*features.State, now time.Time) TrainResult {
	valCut := now.Add(-e.cfg.CategoryHorizon)
	fail := func(err error) TrainResult { return TrainResult{Model: ModelDemand, Reason: err.Error()} }
	cand, err := demand.Fit(ctx, states, valCut, demand.Config{})
	if err != nil {
		return fail(err)
	}
	ev := cand.Evaluate(states, valCut, now, 3)
	if ev.Users < max(e.cfg.MinExamples/10, 1) {
		return fail(fmt.Errorf("%w: %d users bought in a category after %s", ErrNotEnoughData, ev.Users, valCut.Format(time.DateOnly)))
	}
	met := map[string]float64{
		"hit_rate_at_3": ev.HitRate, "popularity_hit_rate_at_3": ev.PopularityHitRate,
		"log_loss": ev.LogLoss, "popularity_log_loss": ev.PopularityLogLoss, "examples": float64(ev.Users),
	}
	for k, w := range cand.Weights {
		met["weight_"+demand.Names[k]] = w
	}
	v := registry.Version{
		Model: ModelDemand, Version: versionName(now, fmt.Sprintf("%016x", math.Float64bits(ev.LogLoss))), Learner: "category_mixture",
		Features: demand.Names[:], TrainedAt: now, WindowStart: firstEvent(states), WindowEnd: now, Metrics: met,
		Validation: &registry.Validation{Cutoff: valCut, Examples: ev.Users},
	}
	if err := e.reg.Register(v, cand); err != nil {
		return fail(err)
	}
	res := TrainResult{Model: ModelDemand, Version: v.Version, Metrics: met, Promoted: true}
	if cur := e.models.Load().demand; cur != nil {
		if c := cur.Evaluate(states, valCut, now, 3); c.HitRate > ev.HitRate {
			res.Promoted = false
			res.Reason = fmt.Sprintf("%v: hit_rate_at_3=%v, promoted version has %v on the same window", registry.ErrWorse, ev.HitRate, c.HitRate)
			return res
		}
	}
	if err := e.reg.PromoteAgainst(ModelDemand, v.Version, nil); err != nil {
		res.Promoted, res.Reason = false, err.Error()
	}
	return res
}

func (e *Engine) enough(ts features.TrainingSet) error {
	var pos int
	for _, y := range ts.Y {
		pos += int(y)
	}
	minClass := max(e.cfg.MinExamples/10, 1)
	if len(ts.Y) < e.cfg.MinExamples || pos < minClass || len(ts.Y)-pos < minClass {
		return fmt.Errorf("%w: %d examples, %d positive at cutoff %s", ErrNotEnoughData, len(ts.Y), pos, ts.Cutoff.Format(time.DateOnly))
	}
	return nil
}

func evaluateOn(c learn.Classifier, ts features.TrainingSet) (map[string]float64, error) {
	met, _, err := validate(c, ts)
	return met, err
}

// validate scores c on ts: the report metrics (with the example and positive counts)
// and the calibration curve in ten bins.
func validate(c learn.Classifier, ts features.TrainingSet) (map[string]float64, []metrics.Bin, error) {
	scores := make([]float64, len(ts.X))
	var pos float64
	for i, x := range ts.X {
		scores[i] = c.Predict(x)
		pos += ts.Y[i]
	}
	r, err := metrics.Evaluate(scores, ts.Y)
	if err != nil {
		return nil, nil, err
	}
	curve, err := metrics.CalibrationCurve(scores, ts.Y, 10)
	if err != nil {
		return nil, nil, err
	}
	return map[string]float64{
		"auc": r.AUC, "log_loss": r.LogLoss, "brier": r.Brier, "precision_at_top_decile": r.PrecisionAtTopDecile,
		"examples": float64(len(ts.Y)), "positives": pos,
	}, curve, nil
}

// importanceSample caps the validation examples explained for feature importance:
// TreeSHAP costs a walk of every tree per example, and a thousand examples rank the
// features steadily.
const importanceSample = 1000

// rocPoints caps the points of a reported ROC curve.
const rocPoints = 101

// diagnose computes the curves of c's report on ts: the ROC curve and each feature's
// mean absolute contribution over ts, or every k-th example of it when ts has more
// than importanceSample (deterministic, so a retrain on the same data reports the same).
func diagnose(c *model.Classifier, ts features.TrainingSet) ([]metrics.ROCPoint, []registry.Importance, error) {
	scores := make([]float64, len(ts.X))
	for i, x := range ts.X {
		scores[i] = c.Predict(x)
	}
	roc, err := metrics.ROCCurve(scores, ts.Y, rocPoints)
	if err != nil {
		return nil, nil, err
	}
	step := max(1, (len(ts.X)+importanceSample-1)/importanceSample)
	var sum []float64
	var n float64
	for i := 0; i < len(ts.X); i += step {
		e := c.Explain(ts.X[i])
		if sum == nil {
			sum = make([]float64, len(e.Contributions))
		}
		for k, v := range e.Contributions {
			sum[k] += math.Abs(v)
		}
		n++
	}
	imp := make([]registry.Importance, 0, len(sum))
	for k, v := range sum {
		name := fmt.Sprintf("feature_%d", k)
		if k < len(features.Names) {
			name = features.Names[k]
		}
		imp = append(imp, registry.Importance{Feature: name, MeanAbsContribution: v / n})
	}
	slices.SortStableFunc(imp, func(a, b registry.Importance) int { return cmp.Compare(b.MeanAbsContribution, a.MeanAbsContribution) })
	return roc, imp, nil
}

func dataHash(ts features.TrainingSet) string {
	h := sha256.New()
	var b [8]byte
	for i, x := range ts.X {
		h.Write([]byte(ts.Users[i]))
		for _, v := range x {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			h.Write(b[:])
		}
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(ts.Y[i]))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func versionName(now time.Time, hash string) string {
	return strings.ToLower(now.UTC().Format("20060102t150405")) + "-" + hash[:8]
}

func firstEvent(states map[string]*features.State) time.Time {
	var first time.Time
	for _, s := range states {
		if t, ok := s.FirstEvent(); ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}
