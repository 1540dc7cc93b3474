package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/stratahq/strata/pkg/config"
	"github.com/stratahq/strata/pkg/logging"
	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/sink"
)

// errNoOutput is returned when a command that writes events is given nowhere to write.
var errNoOutput = errors.New("no output: give --out, --http, --grpc or --kafka")

// outputFlags are the destinations shared by seed and replay.
type outputFlags struct {
	out, items           string
	httpURL, grpcAddr    string
	kafka                string
	writeKey, adminKey   string
	concurrency, batch   int
	progress, noProgress bool
}

func (o *outputFlags) register(f *pflag.FlagSet) {
	f.StringVar(&o.out, "out", "", "write events as JSON lines to this file (- for stdout, .gz compresses)")
	f.StringVar(&o.items, "items-out", "", "with --out, write catalog items to this file (default: the --out name with .items.jsonl)")
	f.StringVar(&o.httpURL, "http", "", "send events to the Segment HTTP API at this base URL (e.g. http://127.0.0.1:8080); items go to its admin REST API")
	f.StringVar(&o.grpcAddr, "grpc", "", "send events and items to IngestService at this gRPC address (e.g. 127.0.0.1:9090)")
	f.StringVar(&o.kafka, "kafka", "", "publish events to strata.events.raw.v1 and items to strata.catalog.v1 on these brokers (comma-separated)")
	f.StringVar(&o.writeKey, "write-key", strata.DevWriteKey, "Segment write key for --http")
	f.StringVar(&o.adminKey, "admin-key", strata.DevAdminKey, "admin API key (Bearer) for items over --http and for --grpc")
	f.IntVar(&o.concurrency, "concurrency", 4, "requests in flight for --http and --grpc")
	f.IntVar(&o.batch, "batch", 100, "events per request (--http at most 100, --grpc at most 500)")
	f.BoolVar(&o.progress, "progress", false, "report progress on stderr even when it is not a terminal")
	f.BoolVar(&o.noProgress, "no-progress", false, "never report progress")
}

// commandLogger is the logger of the one-shot commands: warnings and errors of the
// clients they use, on stderr, as LOG_LEVEL and LOG_FORMAT say.
func commandLogger() (*slog.Logger, error) {
	var cfg logging.Config
	if err := config.Load(&cfg); err != nil {
		return nil, err
	}
	return logging.New(os.Stderr, cfg)
}

// itemsPath is where --out's items go.
func (o *outputFlags) itemsPath() string {
	if o.items != "" || o.out == "" || o.out == "-" {
		return o.items
	}
	base, gz := strings.CutSuffix(o.out, ".gz")
	base = strings.TrimSuffix(base, ".jsonl")
	if gz {
		return base + ".items.jsonl.gz"
	}
	return base + ".items.jsonl"
}

// open returns a sink writing to every destination given.
func (o *outputFlags) open(ctx context.Context, log *slog.Logger) (sink.Sink, error) {
	var sinks []sink.Sink
	fail := func(err error) (sink.Sink, error) {
		for _, s := range sinks {
			_ = s.Close(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	if o.out != "" {
		f, err := sink.CreateFile(o.out, o.itemsPath())
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, f)
	}
	if o.httpURL != "" {
		h, err := sink.NewHTTP(sink.HTTPConfig{
			URL: o.httpURL, WriteKey: o.writeKey, AdminKey: o.adminKey,
			Concurrency: o.concurrency, BatchSize: o.batch,
		})
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, h)
	}
	if o.grpcAddr != "" {
		g, err := sink.NewGRPC(sink.GRPCConfig{Addr: o.grpcAddr, Token: o.adminKey, Concurrency: o.concurrency, BatchSize: o.batch})
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, g)
	}
	if o.kafka != "" {
		k, err := sink.NewKafka(ctx, sink.KafkaConfig{Brokers: splitList(o.kafka), Logger: log})
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, k)
	}
	if len(sinks) == 0 {
		return nil, errNoOutput
	}
	return sink.Tee(sinks...), nil
}

// describe names the destinations for a summary line; items says whether items were
// written.
func (o *outputFlags) describe(items bool) string {
	var parts []string
	if o.out != "" {
		p := "file " + o.out
		if ip := o.itemsPath(); ip != "" && items {
			p += " (items: " + ip + ")"
		}
		parts = append(parts, p)
	}
	if o.httpURL != "" {
		parts = append(parts, "Segment API "+o.httpURL)
	}
	if o.grpcAddr != "" {
		parts = append(parts, "gRPC "+o.grpcAddr)
	}
	if o.kafka != "" {
		parts = append(parts, "Kafka "+o.kafka)
	}
	return strings.Join(parts, ", ")
}

// summaryWriter is where a command's closing summary goes: stdout, unless the events
// themselves go there.
func (o *outputFlags) summaryWriter(out io.Writer) io.Writer {
	if o.out == "-" {
		return os.Stderr
	}
	return out
}

// progressEnabled reports whether to show progress on stderr.
func (o *outputFlags) progressEnabled() bool {
	if o.noProgress {
		return false
	}
	return o.progress || term.IsTerminal(int(os.Stderr.Fd()))
}

// progress reports a long command's progress on a writer: a line redrawn in place on a
// terminal, a line every few seconds otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	// total is the number of units (users, rows) when known, else 0; read returns the
	// units done and the events sent so far.
	total int64
	unit  string
	read  func() (done, events int64)

	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startProgress(enabled bool, label, unit string, total int64, read func() (int64, int64)) *progress {
	p := &progress{w: os.Stderr, tty: term.IsTerminal(int(os.Stderr.Fd())), label: label, unit: unit, total: total, read: read, start: time.Now(), stop: make(chan struct{})}
	if !enabled {
		return p
	}
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.print(true)
				return
			case <-t.C:
				p.print(false)
			}
		}
	}()
	return p
}

func (p *progress) print(final bool) {
	done, events := p.read()
	secs := time.Since(p.start).Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "%s ", p.label)
	if p.total > 0 {
		frac := min(1, float64(done)/float64(p.total))
		const width = 24
		filled := int(frac * width)
		fmt.Fprintf(&b, "[%s%s] %3.0f%% %s/%s %s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, thousands(done), thousands(p.total), p.unit)
	} else {
		fmt.Fprintf(&b, "%s %s", thousands(done), p.unit)
	}
	fmt.Fprintf(&b, "  %s events", thousands(events))
	if secs > 0 {
		fmt.Fprintf(&b, "  %s events/s", thousands(int64(float64(events)/secs)))
	}
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", b.String())
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", b.String())
	case !final:
		fmt.Fprintln(p.w, b.String())
	}
}

// Stop prints the last line (on a terminal) and stops reporting.
func (p *progress) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
