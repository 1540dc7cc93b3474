package sink

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// File writes messages and items as JSON lines. It is what `--out` writes and what
// `strata replay jsonl` reads back.
type File struct {
	events, items *lineWriter
	// itemsPath is created on the first items, so a dataset without a catalog leaves
	// no empty file behind.
	itemsPath string
	cnt       counters
}

// NewFile writes messages to events and items to items (nil drops them). Neither is
// closed by Close.
func NewFile(events, items io.Writer) *File {
	f := &File{events: newLineWriter(events, nil)}
	if items != nil {
		f.items = newLineWriter(items, nil)
	}
	return f
}

// CreateFile creates (or truncates) the file at eventsPath, and the one at itemsPath
// (empty: none) when the first items come; "-" is standard output, and a name ending in
// .gz is gzip-compressed.
func CreateFile(eventsPath, itemsPath string) (*File, error) {
	ev, err := create(eventsPath)
	if err != nil {
		return nil, err
	}
	return &File{events: ev, itemsPath: itemsPath}, nil
}

// Send implements Sink.
func (f *File) Send(_ context.Context, m Message) error {
	if err := f.events.write(&m); err != nil {
		return err
	}
	f.cnt.delivered.Add(1)
	return nil
}

// SendItems implements Sink.
func (f *File) SendItems(_ context.Context, items []Item) error {
	if f.items == nil && f.itemsPath != "" && len(items) > 0 {
		w, err := create(f.itemsPath)
		if err != nil {
			return err
		}
		f.items = w
	}
	if f.items == nil {
		return nil
	}
	for i := range items {
		if err := f.items.write(&items[i]); err != nil {
			return err
		}
		f.cnt.items.Add(1)
	}
	return nil
}

// Stats implements Sink.
func (f *File) Stats() Stats { return f.cnt.stats() }

// Close flushes and closes the files it created.
func (f *File) Close(context.Context) error {
	err := f.events.close()
	if f.items != nil {
		err = errors.Join(err, f.items.close())
	}
	return err
}

type lineWriter struct {
	w       *bufio.Writer
	closers []io.Closer
}

func newLineWriter(w io.Writer, closers []io.Closer) *lineWriter {
	return &lineWriter{w: bufio.NewWriterSize(w, 256<<10), closers: closers}
}

func create(path string) (*lineWriter, error) {
	if path == "-" {
		return newLineWriter(os.Stdout, nil), nil
	}
	file, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if strings.HasSuffix(path, ".gz") {
		gz := gzip.NewWriter(file)
		return newLineWriter(gz, []io.Closer{gz, file}), nil
	}
	return newLineWriter(file, []io.Closer{file}), nil
}

func (l *lineWriter) write(v any) error {
	raw, err := encodeJSON(v)
	if err != nil {
		return fmt.Errorf("sink: encode: %w", err)
	}
	if _, err := l.w.Write(raw); err != nil {
		return fmt.Errorf("sink: write: %w", err)
	}
	if err := l.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("sink: write: %w", err)
	}
	return nil
}

func (l *lineWriter) close() error {
	err := l.w.Flush()
	for _, c := range l.closers {
		err = errors.Join(err, c.Close())
	}
	if err != nil {
		return fmt.Errorf("sink: close: %w", err)
	}
	return nil
}
