package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// requester performs request k of a run, carrying ops operations.
type requester interface {
	do(ctx context.Context, k int64, ops int) error
	close() error
}

// Run sends load as cfg says and reports what happened. It returns early, with the
// report so far, when ctx is done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	req, err := newRequester(cfg)
	if err != nil {
		return nil, err
	}
	defer req.close()

	perReq := 1
	if cfg.Op == Track {
		perReq = cfg.Batch
	}
	reqRate := cfg.Rate / float64(perReq)
	maxReqs := int64(math.MaxInt64)
	if cfg.Count > 0 {
		maxReqs = (cfg.Count + int64(perReq) - 1) / int64(perReq)
	}
	rec := newRecorder()
	pool := newWorkers(cfg.MaxInFlight, func(j job) {
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		err := req.do(rctx, j.k, j.ops)
		cancel()
		if err != nil {
			rec.fail(errorKind(err), err)
			return
		}
		// Latency runs from when the request was due, or from when it was sent if
		// that was earlier (a request may go out up to sendAhead early).
		rec.ok(time.Since(j.from), j.ops)
	})
	start := time.Now()
	var scheduled, sentOps int64
	for k := int64(0); k < maxReqs; k++ {
		offset := time.Duration(float64(k) / reqRate * float64(time.Second))
		if cfg.Duration > 0 && offset >= cfg.Duration {
			break
		}
		due := start.Add(offset)
		if wait := time.Until(due); wait > sendAhead {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		ops := perReq
		if cfg.Count > 0 {
			ops = int(min(int64(perReq), cfg.Count-k*int64(perReq)))
		}
		scheduled++
		from := due
		if now := time.Now(); now.Before(due) {
			from = now
		}
		if !pool.submit(job{k: k, ops: ops, from: from}) {
			rec.fail("overload", fmt.Errorf("%d requests already in flight", cfg.MaxInFlight))
			continue
		}
		sentOps += int64(ops)
	}
	pool.wait()
	elapsed := time.Since(start)

	target, transport := cfg.HTTP, "http"
	if cfg.GRPC != "" {
		target, transport = cfg.GRPC, "grpc"
	}
	r := &Report{
		Op: cfg.Op, Transport: transport, Target: target, TargetRate: cfg.Rate, Batch: perReq,
		ElapsedSeconds: elapsed.Seconds(),
		Requests:       scheduled,
		Sent:           scheduled - rec.errs["overload"],
		SentOperations: sentOps,
	}
	rec.fill(r)
	if s := elapsed.Seconds(); s > 0 {
		r.AchievedRate = float64(r.OKOperations) / s
	}
	return r, ctx.Err()
}

// sendAhead is how early a request may be sent: the loop sleeps only until the first
// request due more than sendAhead from now and sends the ones due before that at once,
// so that it wakes at most a few thousand times a second whatever the rate: on a machine
// it shares with the suite, the generator's own wake-ups are CPU taken from the suite.
const sendAhead = 250 * time.Microsecond

// job is one request for a worker; from is when its latency starts.
type job struct {
	k    int64
	ops  int
	from time.Time
}

// workers runs jobs on at most limit goroutines, started as needed and then reused (a new
// goroutine per request would grow a new stack per request).
type workers struct {
	jobs    chan job
	limit   int
	started int
	busy    chan struct{} // one token per job submitted and not finished
	run     func(job)
	wg      sync.WaitGroup
}

func newWorkers(limit int, run func(job)) *workers {
	return &workers{jobs: make(chan job), limit: limit, busy: make(chan struct{}, limit), run: run}
}

// submit hands j to a worker; it reports false when limit jobs are already in flight.
func (w *workers) submit(j job) bool {
	select {
	case w.busy <- struct{}{}:
	default:
		return false
	}
	select {
	case w.jobs <- j:
		return true
	default:
	}
	if w.started < w.limit {
		w.started++
		w.wg.Add(1)
		go w.loop()
	}
	w.jobs <- j
	return true
}

func (w *workers) loop() {
	defer w.wg.Done()
	for j := range w.jobs {
		w.run(j)
		<-w.busy
	}
}

// wait waits for the submitted jobs and stops the workers.
func (w *workers) wait() {
	close(w.jobs)
	w.wg.Wait()
}

// Report is the outcome of a run. Latencies are of successful requests, from when each
// was due, in milliseconds.
type Report struct {
	Op             Operation `json:"op"`
	Transport      string    `json:"transport"`
	Target         string    `json:"target"`
	TargetRate     float64   `json:"target_rate"`
	Batch          int       `json:"batch"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// Requests were due; Sent were sent (the others hit the in-flight bound).
	Requests       int64 `json:"requests"`
	Sent           int64 `json:"sent"`
	SentOperations int64 `json:"sent_operations"`
	OK             int64 `json:"ok"`
	OKOperations   int64 `json:"ok_operations"`
	// AchievedRate is successful operations per second of the run.
	AchievedRate float64          `json:"achieved_rate"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	// ErrorSamples holds the first error message of each kind.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Latency      Latency           `json:"latency_ms"`
}

// Latency summarises latencies in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	unit := "requests"
	if r.Op == Track {
		unit = "events"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "strata load: %s over %s %s", r.Op, r.Transport, r.Target)
	if r.Op == Track {
		fmt.Fprintf(&b, " (%d events a request)", r.Batch)
	}
	fmt.Fprintf(&b, "\n  target     %.0f %s/s\n", r.TargetRate, unit)
	fmt.Fprintf(&b, "  sent       %d %s in %d requests over %.2fs\n", r.SentOperations, unit, r.Sent, r.ElapsedSeconds)
	fmt.Fprintf(&b, "  achieved   %.1f %s/s (%d ok requests, %d errors)\n", r.AchievedRate, unit, r.OK, r.Errors)
	fmt.Fprintf(&b, "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max), ms(r.Latency.Mean))
	if len(r.ErrorsByKind) > 0 {
		kinds := make([]string, 0, len(r.ErrorsByKind))
		for k := range r.ErrorsByKind {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		b.WriteString("  errors\n")
		for _, k := range kinds {
			fmt.Fprintf(&b, "    %-22s %d  (%s)\n", k, r.ErrorsByKind[k], r.ErrorSamples[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// recorder gathers outcomes; safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	oks, ops int64
	errs     map[string]int64
	samples  map[string]string
}

func newRecorder() *recorder {
	// Microseconds from 1 µs to 5 minutes, 3 significant digits.
	return &recorder{hist: hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3), errs: map[string]int64{}, samples: map[string]string{}}
}

func (r *recorder) ok(lat time.Duration, ops int) {
	us := max(1, lat.Microseconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.hist.RecordValue(min(us, r.hist.HighestTrackableValue()))
	r.oks++
	r.ops += int64(ops)
}

func (r *recorder) fail(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[kind]++
	if _, ok := r.samples[kind]; !ok {
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		r.samples[kind] = msg
	}
}

func (r *recorder) fill(rep *Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.OK, rep.OKOperations = r.oks, r.ops
	rep.ErrorsByKind, rep.ErrorSamples = map[string]int64{}, map[string]string{}
	for k, v := range r.errs {
		rep.ErrorsByKind[k] = v
		rep.ErrorSamples[k] = r.samples[k]
		rep.Errors += v
	}
	q := func(p float64) float64 { return float64(r.hist.ValueAtQuantile(p)) / 1000 }
	if r.oks > 0 {
		rep.Latency = Latency{
			Mean: r.hist.Mean() / 1000, P50: q(50), P90: q(90), P99: q(99), P999: q(99.9),
			Max: float64(r.hist.Max()) / 1000,
		}
	}
}

// httpStatusError is a non-2xx answer.
type httpStatusError struct {
	code int
	body string
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// errorKind names the kind of a failed request: http_<status>, grpc_<Code>, timeout,
// canceled, connection or error.
func errorKind(err error) string {
	var he *httpStatusError
	if errors.As(err, &he) {
		return fmt.Sprintf("http_%d", he.code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		if st.Code() == codes.DeadlineExceeded {
			return "timeout"
		}
		return "grpc_" + st.Code().String()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "timeout"
		}
		return "connection"
	}
	return "error"
}

func runID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
