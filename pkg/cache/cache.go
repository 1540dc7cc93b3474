// Package cache connects to Redis through go-redis' universal client, so one address is a
// single node and several are a Redis Cluster, and names the suite's keys.
//
// Redis holds nothing the suite cannot rebuild from Kafka or PostgreSQL. Every per-user key
// carries the user id in a {hash tag}, so all keys of one user live in one cluster slot and
// can be written in one pipeline or transaction. Clients are safe for concurrent use.
package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// ErrMissingAddrs is returned by Validate when no Redis address is set.
var ErrMissingAddrs = errors.New("cache: at least one Redis address is required")

// Config locates Redis.
type Config struct {
	// Addrs is one host:port for a single node, several for a cluster.
	Addrs    []string `env:"REDIS_ADDR" envSeparator:","`
	Username string   `env:"REDIS_USERNAME"`
	Password string   `env:"REDIS_PASSWORD"`
	DB       int      `env:"REDIS_DB"`
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if len(c.Addrs) == 0 || c.Addrs[0] == "" {
		return ErrMissingAddrs
	}
	return nil
}

// Open connects, instruments the client with tracing and metrics and checks it answers.
func Open(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        cfg.Addrs,
		Username:     cfg.Username,
		Password:     cfg.Password,
		DB:           cfg.DB,
		DialTimeout:  3 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
	})
	// Statements stay out of spans: they carry user ids, and formatting every
	// pipelined command cost ingest about 5 % of its CPU even for unsampled spans;
	// the caller's file and line cost a stack walk per command on hot paths.
	if err := redisotel.InstrumentTracing(c, redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false)); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cache: instrument tracing: %w", err)
	}
	if err := redisotel.InstrumentMetrics(c); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cache: instrument metrics: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pingCtx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cache: ping %s: %w", strings.Join(cfg.Addrs, ","), err)
	}
	return c, nil
}

// ProfileKey is the key of a user's computed profile (protobuf bytes).
func ProfileKey(userID string) string { return "strata:profile:{" + userID + "}" }
