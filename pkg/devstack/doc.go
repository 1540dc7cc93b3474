// Package devstack runs in-process stand-ins for Kafka and Redis, for tests
// and for the embedded default (`strata up`, `make run`).
//
// The stand-ins speak the real wire protocols on 127.0.0.1, so services reach
// them over TCP with the same clients and code paths they use against real
// infrastructure; only the addresses differ. State lives in memory and is
// lost on Close.
//
// Each stand-in is safe for concurrent use by any number of clients. Close
// is idempotent.
package devstack
