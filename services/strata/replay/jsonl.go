package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/stratahq/strata/services/strata/sink"
)

// JSONL streams a file of Segment messages, one JSON object a line (what
// `strata seed --out` writes), with an optional items file beside it.
type JSONL struct {
	opt    Options
	path   string
	r      io.Reader
	items  []sink.Item
	closer io.Closer
}

// OpenJSONL opens the events file at path and reads the items file at itemsPath, if
// not empty. Close releases the events file.
func OpenJSONL(path, itemsPath string, opt Options) (*JSONL, error) {
	j := &JSONL{opt: opt, path: path}
	if itemsPath != "" {
		f, err := open(itemsPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if j.items, err = ReadItems(f); err != nil {
			return nil, fmt.Errorf("%s: %w", itemsPath, err)
		}
	}
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	j.r, j.closer = f, f
	return j, nil
}

// NewJSONL streams messages from r, with items as the catalog.
func NewJSONL(r io.Reader, items []sink.Item, opt Options) *JSONL {
	return &JSONL{opt: opt, path: "input", r: r, items: items}
}

// ReadItems reads a JSONL file of catalog items.
func ReadItems(r io.Reader) ([]sink.Item, error) {
	var items []sink.Item
	err := lines(r, func(n int, line string) error {
		if line == "" {
			return nil
		}
		var it sink.Item
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			return fmt.Errorf("%w: items line %d: %w", ErrFormat, n, err)
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

// Items implements Source.
func (j *JSONL) Items() []sink.Item { return j.items }

// Len implements Source: unknown until the file is read.
func (j *JSONL) Len() int { return -1 }

// Each implements Source, in file order. It can be called once.
func (j *JSONL) Each(ctx context.Context, fn func(sink.Message) error) error {
	count := 0
	err := lines(j.r, func(n int, line string) error {
		if line == "" {
			return nil
		}
		if j.opt.Limit > 0 && count >= j.opt.Limit {
			return errStop
		}
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		var m sink.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return fmt.Errorf("%w: %s line %d: %w", ErrFormat, j.path, n, err)
		}
		if p := j.opt.Prefix; p != "" {
			m.MessageID = p + m.MessageID
			if m.UserID != "" {
				m.UserID = p + m.UserID
			}
			if m.AnonymousID != "" {
				m.AnonymousID = p + m.AnonymousID
			}
		}
		count++
		return fn(m)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// Close releases the file OpenJSONL opened.
func (j *JSONL) Close() error {
	if j.closer == nil {
		return nil
	}
	return j.closer.Close()
}
