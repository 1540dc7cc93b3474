//go:build unix

package suitetest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockRealSuite blocks until no other suite on real infrastructure runs on this
// machine, and holds the lock until t ends.
func lockRealSuite(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "strata-suitetest-real.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("suitetest: open the real-suite lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		t.Fatalf("suitetest: take the real-suite lock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	})
}
