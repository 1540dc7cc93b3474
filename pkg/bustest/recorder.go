package bustest

import (
	"context"
	"sync"

	"github.com/stratahq/strata/pkg/bus"
)

// Recorder is an in-memory bus.Publisher for unit tests: it records every Publish call
// and fails them with Err when Err is set. It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	Err   error
	calls [][]bus.Message
}

// Publish records msgs and returns r.Err.
func (r *Recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, msgs)
	return r.Err
}

// SetErr makes later Publish calls fail with err (nil: succeed).
func (r *Recorder) SetErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Err = err
}

// Calls returns the recorded calls, one slice of messages per Publish.
func (r *Recorder) Calls() [][]bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]bus.Message(nil), r.calls...)
}

// Messages returns every recorded message in publish order.
func (r *Recorder) Messages() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []bus.Message
	for _, c := range r.calls {
		out = append(out, c...)
	}
	return out
}
