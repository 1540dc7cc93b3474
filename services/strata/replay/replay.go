// Package replay reads public datasets as Segment messages, so real data goes through
// the same ingest path as any client's: MovieLens-format ratings become `Item Rated`
// events (with movies.csv as the catalog), CDNOW-format transactions become
// `Order Completed` events, and the JSONL files `strata seed --out` writes are read back
// as they were written.
//
// MovieLens and CDNOW rows are loaded into a compact slice (about 32 bytes a row) and
// sorted by time, so that a paced replay (sink.Pace with Compress) unfolds in the order
// things happened; JSONL files are streamed in file order. Ids are stable: the same row
// always becomes the same messageId, so a replay that is repeated is deduplicated
// downstream. A Source is not safe for concurrent use.
package replay

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stratahq/strata/services/strata/sink"
)

// Source is a dataset read as messages and catalog items.
type Source interface {
	// Items is the catalog the messages refer to (may be empty).
	Items() []sink.Item
	// Len is the number of messages, or -1 when it is not known in advance.
	Len() int
	// Each calls fn with every message, in order, until fn fails or ctx is done.
	Each(ctx context.Context, fn func(sink.Message) error) error
}

// Options apply to every source.
type Options struct {
	// Prefix is put before user ids, message ids and order ids, so that one dataset can
	// be replayed into one suite several times as different users.
	Prefix string
	// Limit reads only the first Limit rows of the file; 0 reads all.
	Limit int
}

// ErrFormat is wrapped by errors about malformed input; they name the line.
var ErrFormat = errors.New("replay: malformed input")

// Result counts what Run sent.
type Result struct {
	Messages, Items int
	// ItemsSkipped is true when the sink could not take items (sink.ErrNoAdminKey).
	ItemsSkipped bool
}

// Run sends src's items, then its messages, to s; it does not close s.
func Run(ctx context.Context, src Source, s sink.Sink) (Result, error) {
	var res Result
	items := src.Items()
	if len(items) > 0 {
		switch err := s.SendItems(ctx, items); {
		case errors.Is(err, sink.ErrNoAdminKey):
			res.ItemsSkipped = true
		case err != nil:
			return res, err
		default:
			res.Items = len(items)
		}
	}
	err := src.Each(ctx, func(m sink.Message) error {
		if err := s.Send(ctx, m); err != nil {
			return err
		}
		res.Messages++
		return nil
	})
	return res, err
}

// open opens path for reading, through gzip when the name ends in .gz.
func open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("replay: %s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{gz, closers{gz, f}}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// lines calls fn with each line of r (without the newline) and its 1-based number.
func lines(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, strings.TrimRight(sc.Text(), "\r")); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("replay: line %d: %w", n+1, err)
	}
	return nil
}

// errStop ends lines early once a limit is reached.
var errStop = errors.New("stop")
