package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
)

// MaxGRPCBatch is the most events IngestBatch takes in one call.
const MaxGRPCBatch = 500

// GRPCConfig configures the IngestService sink.
type GRPCConfig struct {
	// Addr is the gRPC address of the gateway (or of ingest itself), host:port.
	Addr string
	// Token is sent as "authorization: Bearer <token>": an API key with the track scope
	// for events, the admin scope for UpsertItems.
	Token string
	// Concurrency is the number of calls in flight; default 4.
	Concurrency int
	// BatchSize is the most events per IngestBatch; default 100, at most 500.
	BatchSize int
	// Linger is how long a partial batch waits for more messages; default 50ms.
	Linger time.Duration
	// Timeout bounds one call; default 30s.
	Timeout time.Duration
}

// GRPC is the IngestService sink.
type GRPC struct {
	cfg    GRPCConfig
	conn   *grpc.ClientConn
	client ingestv1.IngestServiceClient
	cnt    counters
	b      *batcher[*eventv1.Event]
}

// NewGRPC returns a sink calling IngestService.IngestBatch and UpsertItems at cfg.Addr.
func NewGRPC(cfg GRPCConfig) (*GRPC, error) {
	if cfg.Addr == "" {
		return nil, errors.New("sink: gRPC address is required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	cfg.BatchSize = min(cfg.BatchSize, MaxGRPCBatch)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	conn, err := grpc.NewClient(cfg.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("sink: dial %s: %w", cfg.Addr, err)
	}
	g := &GRPC{cfg: cfg, conn: conn, client: ingestv1.NewIngestServiceClient(conn)}
	g.b = newBatcher(batching{
		workers:  cfg.Concurrency,
		maxItems: cfg.BatchSize,
		maxBytes: 3 << 20, // below gRPC's default 4 MB message limit
		linger:   cfg.Linger,
	}, &g.cnt, encodeProto, g.ingest)
	return g, nil
}

func encodeProto(m *Message) (*eventv1.Event, int, error) {
	ev, err := m.Proto(time.Now())
	if err != nil {
		return nil, 0, err
	}
	return ev, proto.Size(ev) + 8, nil
}

// Send implements Sink.
func (g *GRPC) Send(ctx context.Context, m Message) error { return g.b.send(ctx, m) }

// Stats implements Sink.
func (g *GRPC) Stats() Stats { return g.cnt.stats() }

// Close implements Sink; it also closes the connection.
func (g *GRPC) Close(ctx context.Context) error {
	err := g.b.close(ctx)
	return errors.Join(err, g.conn.Close())
}

func (g *GRPC) auth(ctx context.Context) context.Context {
	if g.cfg.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.cfg.Token)
}

func (g *GRPC) ingest(ctx context.Context, batch []*eventv1.Event) error {
	return defaultRetry.do(ctx, &g.cnt, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(g.auth(ctx), g.cfg.Timeout)
		defer cancel()
		_, err := g.client.IngestBatch(ctx, &ingestv1.IngestBatchRequest{Events: batch})
		return classifyGRPC("IngestBatch", err)
	})
}

// SendItems implements Sink with UpsertItems calls of up to 500 items.
func (g *GRPC) SendItems(ctx context.Context, items []Item) error {
	for chunk := range slices.Chunk(items, 500) {
		req := &ingestv1.UpsertItemsRequest{Items: make([]*eventv1.CatalogItem, len(chunk))}
		for i := range chunk {
			req.Items[i] = chunk[i].Proto()
		}
		err := defaultRetry.do(ctx, &g.cnt, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(g.auth(ctx), g.cfg.Timeout)
			defer cancel()
			_, err := g.client.UpsertItems(ctx, req)
			return classifyGRPC("UpsertItems", err)
		})
		if err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		g.cnt.items.Add(int64(len(chunk)))
	}
	return nil
}

// classifyGRPC marks the codes of back-pressure and transient failure retryable.
func classifyGRPC(method string, err error) error {
	if err == nil {
		return nil
	}
	code := status.Code(err)
	err = fmt.Errorf("%s: %w", method, err)
	switch code {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return &errRetryable{err: err}
	}
	return err
}
