//go:build !unix

package suitetest

import "testing"

// lockRealSuite is a no-op where flock is not available: run one real-suite test
// binary at a time there (go test -p 1).
func lockRealSuite(testing.TB) {}
