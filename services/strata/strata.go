// Package strata runs the whole suite in one process: every service's own Run, wired
// together, against real Kafka, Redis and PostgreSQL when their addresses are given and
// against in-process stand-ins (kfake, miniredis, SQLite) when they are not. It is what
// `strata up` and `make run` start, and what the end-to-end tests drive.
package strata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/devstack"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/pkg/topics"
	"github.com/stratahq/strata/services/crm"
	crmstore "github.com/stratahq/strata/services/crm/store"
	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/keystore"
	"github.com/stratahq/strata/services/ingest"
	"github.com/stratahq/strata/services/prediction"
	"github.com/stratahq/strata/services/profile"
	"github.com/stratahq/strata/services/recommendation"
)

// Development keys, accepted only when the suite runs on the embedded stack.
const (
	DevWriteKey = "dev-write-key"
	DevAdminKey = "dev-admin-key"
)

// ErrMissingKeys is returned by Validate when real infrastructure is used without
// configured keys: the dev keys exist only in embedded mode.
var ErrMissingKeys = errors.New("strata: with real infrastructure set STRATA_INGEST_WRITE_KEYS and STRATA_GATEWAY_ADMIN_KEYS")

// Config configures the all-in-one suite. Empty infrastructure addresses select the
// embedded stand-ins.
type Config struct {
	Brokers     []string `env:"STRATA_KAFKA_BROKERS" envSeparator:","`
	RedisAddrs  []string `env:"STRATA_REDIS_ADDR" envSeparator:","`
	PostgresURL string   `env:"STRATA_POSTGRES_URL"`
	// HTTPAddr and GRPCAddr are the gateway's public addresses; the other services
	// listen on free loopback ports.
	HTTPAddr string `env:"STRATA_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	GRPCAddr string `env:"STRATA_GRPC_ADDR" envDefault:"127.0.0.1:9090"`
	// WriteKeys maps Segment write keys to source ids; AdminKeys are admin API keys.
	WriteKeys map[string]string `env:"STRATA_INGEST_WRITE_KEYS" envKeyValSeparator:":"`
	AdminKeys []string          `env:"STRATA_GATEWAY_ADMIN_KEYS" envSeparator:","`
	// DataDir holds the embedded SQLite database; a temporary directory when empty.
	DataDir string `env:"STRATA_DATA_DIR"`

	Logger  *slog.Logger `env:"-"`
	Metrics http.Handler `env:"-"`
	// OnReady, when set, is called once the gateway reports every service ready.
	OnReady func(Endpoints) `env:"-"`
}

// Endpoints are where the running suite answers.
type Endpoints struct {
	HTTP, GRPC string
	// Embedded is true when the in-process stand-ins are in use, and so the dev keys.
	Embedded  bool
	WriteKey  string
	AdminKey  string
	Brokers   []string
	RedisAddr string
}

// Embedded reports whether the suite runs on in-process stand-ins alone (no Kafka,
// Redis or PostgreSQL address given): only then are the development keys accepted, so
// that they never reach data on real infrastructure.
func (c Config) Embedded() bool {
	return len(c.Brokers) == 0 && len(c.RedisAddrs) == 0 && c.PostgresURL == ""
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if !c.Embedded() && (len(c.WriteKeys) == 0 || len(c.AdminKeys) == 0) {
		return ErrMissingKeys
	}
	if c.HTTPAddr == "" || c.GRPCAddr == "" {
		return errors.New("strata: gateway HTTP and gRPC addresses are required")
	}
	return nil
}

// Run starts the stand-ins it needs and every service, and runs until ctx is done or a
// service fails; then it stops them all and returns the first error.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	embedded := cfg.Embedded()
	if embedded {
		if cfg.WriteKeys == nil {
			cfg.WriteKeys = map[string]string{}
		}
		cfg.WriteKeys[DevWriteKey] = "dev"
		cfg.AdminKeys = append(cfg.AdminKeys, DevAdminKey)
	}
	if len(cfg.Brokers) == 0 {
		k, err := devstack.StartKafka(ctx, devstack.KafkaConfig{Logger: log.With("component", "kfake")})
		if err != nil {
			return err
		}
		defer k.Close()
		cfg.Brokers = k.Brokers()
	}
	if len(cfg.RedisAddrs) == 0 {
		r, err := devstack.StartRedis()
		if err != nil {
			return err
		}
		defer r.Close()
		cfg.RedisAddrs = []string{r.Addr()}
	}
	store := crmstore.Config{PostgresURL: cfg.PostgresURL}
	if store.PostgresURL == "" {
		dir := cfg.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "strata-")
			if err != nil {
				return fmt.Errorf("strata: data dir: %w", err)
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("strata: data dir: %w", err)
		}
		store.SQLitePath = filepath.Join(dir, "crm.db")
	}
	// The gateway's keys and audit log live beside the CRM's data, in a database of
	// their own (each service owns its data).
	keys := keystore.Config{PostgresURL: cfg.PostgresURL}
	if store.SQLitePath != "" {
		keys.SQLitePath = filepath.Join(filepath.Dir(store.SQLitePath), "gateway.db")
	}

	kafka := bus.Config{Brokers: cfg.Brokers}
	redis := cache.Config{Addrs: cfg.RedisAddrs}
	var (
		lis  []net.Listener
		srvs = map[string]server.Config{}
	)
	defer func() {
		for _, l := range lis {
			_ = l.Close()
		}
	}()
	for _, name := range []string{"ingest", "profile", "prediction", "recommendation", "crm"} {
		g, err := listen("127.0.0.1:0")
		if err != nil {
			return err
		}
		h, err := listen("127.0.0.1:0")
		if err != nil {
			return err
		}
		lis = append(lis, g, h)
		srvs[name] = server.Config{GRPCListener: g, HTTPListener: h, ShutdownTimeout: server.DefaultShutdownTimeout}
	}
	gwGRPC, err := listen(cfg.GRPCAddr)
	if err != nil {
		return err
	}
	gwHTTP, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	lis = append(lis, gwGRPC, gwHTTP)

	addr := func(name string) string { return srvs[name].GRPCListener.Addr().String() }
	gw := gateway.DefaultConfig()
	gw.Server = server.Config{GRPCListener: gwGRPC, HTTPListener: gwHTTP, ShutdownTimeout: server.DefaultShutdownTimeout}
	gw.IngestURL = "http://" + srvs["ingest"].HTTPListener.Addr().String()
	gw.IngestAddr, gw.ProfileAddr, gw.PredictionAddr = addr("ingest"), addr("profile"), addr("prediction")
	gw.RecommendationAddr, gw.CRMAddr = addr("recommendation"), addr("crm")
	gw.AdminKeys, gw.Keys = cfg.AdminKeys, keys
	gw.Logger, gw.Metrics = log, cfg.Metrics

	// Topics are created once, before the services start, so they do not race to.
	if err := bus.EnsureTopics(ctx, kafka, topics.All()...); err != nil {
		return fmt.Errorf("strata: topics: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return ingest.Run(gctx, ingest.Config{Server: srvs["ingest"], Kafka: kafka, Redis: redis, WriteKeys: cfg.WriteKeys, Logger: log, Metrics: cfg.Metrics})
	})
	g.Go(func() error {
		return profile.Run(gctx, profile.Config{Server: srvs["profile"], Kafka: kafka, Redis: redis, Logger: log, Metrics: cfg.Metrics})
	})
	g.Go(func() error {
		pc := prediction.Config{Server: srvs["prediction"], Kafka: kafka, Logger: log, Metrics: cfg.Metrics}
		if cfg.DataDir != "" {
			pc.Registry.Dir = filepath.Join(cfg.DataDir, "models") // model registry survives restarts
		}
		return prediction.Run(gctx, pc)
	})
	g.Go(func() error {
		return recommendation.Run(gctx, recommendation.Config{Server: srvs["recommendation"], Kafka: kafka, Redis: redis, Logger: log, Metrics: cfg.Metrics})
	})
	g.Go(func() error {
		return crm.Run(gctx, crm.Config{Server: srvs["crm"], Kafka: kafka, Store: store, RecommendationAddr: addr("recommendation"),
			Logger: log, Metrics: cfg.Metrics})
	})
	g.Go(func() error { return gateway.Run(gctx, gw) })
	if cfg.OnReady != nil {
		g.Go(func() error {
			ep := Endpoints{
				HTTP: gwHTTP.Addr().String(), GRPC: gwGRPC.Addr().String(),
				Embedded: embedded, Brokers: cfg.Brokers, RedisAddr: cfg.RedisAddrs[0],
			}
			if embedded {
				ep.WriteKey, ep.AdminKey = DevWriteKey, DevAdminKey
			}
			if err := WaitHealthy(gctx, "http://"+ep.HTTP+"/healthz"); err != nil {
				return nil // the suite is stopping; its own error is reported by Wait
			}
			cfg.OnReady(ep)
			return nil
		})
	}
	return g.Wait()
}

func listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("strata: listen %s: %w", addr, err)
	}
	return l, nil
}

// WaitHealthy polls url until it answers 200 or ctx is done.
func WaitHealthy(ctx context.Context, url string) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
