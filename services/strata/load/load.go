// Package load is an open-loop load generator for benchmarks of a running suite: it
// sends events (Segment /v1/batch over HTTP, IngestBatch over gRPC) or asks for
// profiles and recommendations (REST or gRPC) at a fixed target rate, whatever the
// latency of the answers, and reports the rate it achieved, latency percentiles and
// errors by kind.
//
// Open loop: request k is due at start + k/rate. Its latency is measured from when it
// was due, not from when it was sent, so a client that falls behind (or a server that
// stalls it) shows in the percentiles instead of silently lowering the rate
// (coordinated omission). At most MaxInFlight requests are outstanding; a request due
// while that many are pending is not sent and counts as an "overload" error.
//
// Targets must be on the loopback interface: this tool is for benchmarking a suite on
// the machine it runs on, never for loading someone else's server.
package load

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Operation is what a request does.
type Operation string

// Operations.
const (
	// Track sends a batch of track events.
	Track Operation = "track"
	// Profile reads a user's profile.
	Profile Operation = "profile"
	// Recommend asks for a user's recommendations.
	Recommend Operation = "recommend"
	// Health asks the gateway itself whether it is serving (gRPC health Check, GET
	// /livez): one hop through the gateway's server stack and no backend, the floor
	// under what any API call through the gateway costs on the machine.
	Health Operation = "health"
)

// Configuration errors returned by Validate.
var (
	ErrNotLoopback   = errors.New("load: target is not a loopback address")
	ErrNoTarget      = errors.New("load: exactly one of an HTTP URL and a gRPC address is required")
	ErrInvalidRate   = errors.New("load: rate must be positive")
	ErrUnbounded     = errors.New("load: a duration or a count is required")
	ErrUnknownOp     = errors.New("load: unknown operation (want track, profile, recommend or health)")
	ErrInvalidNumber = errors.New("load: batch, users and max in-flight must be positive")
)

// Config configures a run.
type Config struct {
	Op Operation
	// HTTP is the base URL of the gateway (http://127.0.0.1:8080); GRPC its gRPC
	// address (127.0.0.1:9090). Exactly one is set.
	HTTP, GRPC string
	// Rate is operations per second: events for Track (sent Batch to a request),
	// requests for Profile and Recommend.
	Rate float64
	// Duration and Count bound the run; it stops at whichever comes first. Count is
	// in operations.
	Duration time.Duration
	Count    int64
	// Batch is events per request for Track; default 1.
	Batch int
	// Users is the size of the user id space, ids as `strata seed` names them
	// (Prefix + "u0000001"…); default 5000.
	Users  int
	Prefix string
	// WriteKey is the Segment write key (HTTP track); APIKey the Bearer key for
	// everything else.
	WriteKey, APIKey string
	// MaxInFlight bounds outstanding requests; default 512.
	MaxInFlight int
	// Timeout bounds one request; default 10s.
	Timeout time.Duration
}

func (c *Config) defaults() {
	if c.Op == "" {
		c.Op = Track
	}
	if c.Batch == 0 {
		c.Batch = 1
	}
	if c.Users == 0 {
		c.Users = 5000
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 512
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports configuration errors, among them a target that is not loopback.
func (c Config) Validate() error {
	c.defaults()
	switch c.Op {
	case Track, Profile, Recommend, Health:
	default:
		return fmt.Errorf("%w: %q", ErrUnknownOp, c.Op)
	}
	if (c.HTTP == "") == (c.GRPC == "") {
		return ErrNoTarget
	}
	if c.Rate <= 0 {
		return ErrInvalidRate
	}
	if c.Duration <= 0 && c.Count <= 0 {
		return ErrUnbounded
	}
	if c.Batch <= 0 || c.Users <= 0 || c.MaxInFlight <= 0 {
		return ErrInvalidNumber
	}
	if c.HTTP != "" {
		return CheckLoopbackURL(c.HTTP)
	}
	return CheckLoopbackAddr(c.GRPC)
}

// CheckLoopbackURL checks that rawURL's host is a loopback address.
func CheckLoopbackURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("load: %q is not a URL like http://127.0.0.1:8080", rawURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("load: %q: scheme must be http or https", rawURL)
	}
	return checkHost(u.Hostname(), rawURL)
}

// CheckLoopbackAddr checks that a host:port address is on the loopback interface.
func CheckLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("load: %q is not a host:port address: %w", addr, err)
	}
	return checkHost(host, addr)
}

// checkHost accepts loopback IP literals (127.0.0.0/8, ::1) and localhost, and no other
// name: resolving one could lead anywhere.
func checkHost(host, target string) error {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %s (use 127.0.0.1, ::1 or localhost: strata load only benchmarks a suite on this machine)", ErrNotLoopback, target)
}
