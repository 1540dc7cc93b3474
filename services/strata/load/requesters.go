package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

// trackEvents are the event names load cycles through.
var trackEvents = []string{"Product Viewed", "Lesson Started", "Lesson Completed", "Item Favorited"}

// loadItems is the number of item ids load refers to: the default world's catalog.
const loadItems = 300

// ids names users and items as `strata seed` does, and messages uniquely to the run.
type ids struct {
	prefix, run string
	users       int
}

// user spreads request k (and event j of it) over the user id space.
func (d ids) user(k int64, j int) string {
	i := (uint64(k)*2654435761 + uint64(j)*40503) % uint64(d.users)
	return fmt.Sprintf("%su%07d", d.prefix, i+1)
}

func (d ids) item(k int64, j int) string {
	return fmt.Sprintf("%si%06d", d.prefix, (uint64(k)*7919+uint64(j)*104729)%loadItems+1)
}

func (d ids) message(k int64, j int) string {
	return "load-" + d.run + "-" + strconv.FormatInt(k, 10) + "-" + strconv.Itoa(j)
}

func newRequester(cfg Config) (requester, error) {
	d := ids{prefix: cfg.Prefix, run: runID(), users: cfg.Users}
	if cfg.HTTP != "" {
		return &httpRequester{cfg: cfg, ids: d, base: strings.TrimSuffix(cfg.HTTP, "/"), client: &http.Client{
			Transport: &http.Transport{MaxIdleConns: cfg.MaxInFlight, MaxIdleConnsPerHost: cfg.MaxInFlight, IdleConnTimeout: 30 * time.Second},
		}}, nil
	}
	conn, err := grpc.NewClient(cfg.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("load: dial %s: %w", cfg.GRPC, err)
	}
	return &grpcRequester{
		cfg: cfg, ids: d, conn: conn,
		ingest:  ingestv1.NewIngestServiceClient(conn),
		profile: profilev1.NewProfileServiceClient(conn),
		recs:    recommendationv1.NewRecommendationServiceClient(conn),
		health:  healthpb.NewHealthClient(conn),
	}, nil
}

type httpRequester struct {
	cfg    Config
	ids    ids
	base   string
	client *http.Client
}

func (h *httpRequester) do(ctx context.Context, k int64, ops int) error {
	var req *http.Request
	var err error
	switch h.cfg.Op {
	case Track:
		var body bytes.Buffer
		body.WriteString(`{"batch":[`)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for j := range ops {
			if j > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"type":"track","messageId":%q,"userId":%q,"event":%q,"timestamp":%q,"properties":{"item_id":%q,"product_id":%q}}`,
				h.ids.message(k, j), h.ids.user(k, j), trackEvents[(int(k)+j)%len(trackEvents)], now, h.ids.item(k, j), h.ids.item(k, j))
		}
		body.WriteString(`]}`)
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/batch", &body)
		if err == nil {
			req.SetBasicAuth(h.cfg.WriteKey, "")
			req.Header.Set("Content-Type", "application/json")
		}
	case Profile:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/api/v1/users/"+h.ids.user(k, 0)+"/profile", nil)
	case Recommend:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/api/v1/users/"+h.ids.user(k, 0)+"/recommendations?n=10", nil)
	case Health:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/livez", nil)
	}
	if err != nil {
		return err
	}
	if h.cfg.Op != Track && h.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.cfg.APIKey)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return &httpStatusError{code: resp.StatusCode, body: string(bytes.TrimSpace(snippet))}
	}
	return nil
}

func (h *httpRequester) close() error {
	h.client.CloseIdleConnections()
	return nil
}

type grpcRequester struct {
	cfg     Config
	ids     ids
	conn    *grpc.ClientConn
	ingest  ingestv1.IngestServiceClient
	profile profilev1.ProfileServiceClient
	recs    recommendationv1.RecommendationServiceClient
	health  healthpb.HealthClient
}

func (g *grpcRequester) do(ctx context.Context, k int64, ops int) error {
	if g.cfg.APIKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.cfg.APIKey)
	}
	switch g.cfg.Op {
	case Track:
		now := timestamppb.Now()
		events := make([]*eventv1.Event, ops)
		for j := range ops {
			props, err := structpb.NewStruct(map[string]any{"item_id": g.ids.item(k, j), "product_id": g.ids.item(k, j)})
			if err != nil {
				return err
			}
			events[j] = &eventv1.Event{
				EventId:    g.ids.message(k, j),
				Type:       eventv1.EventType_EVENT_TYPE_TRACK,
				Event:      trackEvents[(int(k)+j)%len(trackEvents)],
				UserId:     g.ids.user(k, j),
				Timestamp:  now,
				Properties: props,
			}
		}
		_, err := g.ingest.IngestBatch(ctx, &ingestv1.IngestBatchRequest{Events: events})
		return err
	case Profile:
		_, err := g.profile.GetProfile(ctx, &profilev1.GetProfileRequest{UserId: g.ids.user(k, 0)})
		return err
	case Health:
		_, err := g.health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	default:
		_, err := g.recs.Recommend(ctx, &recommendationv1.RecommendRequest{
			UserId: g.ids.user(k, 0), N: 10, Scene: recommendationv1.Scene_SCENE_HOME,
		})
		return err
	}
}

func (g *grpcRequester) close() error { return g.conn.Close() }
