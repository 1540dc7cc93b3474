package devstack

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Redis is an in-process Redis-protocol server (miniredis).
type Redis struct {
	srv *miniredis.Miniredis
}

// StartRedis starts an embedded Redis on 127.0.0.1, on a free port.
func StartRedis() (*Redis, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devstack: start redis: %w", err)
	}
	return &Redis{srv: srv}, nil
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return r.srv.Addr() }

// Close stops the server and drops its data. It is idempotent.
func (r *Redis) Close() error {
	r.srv.Close()
	return nil
}
