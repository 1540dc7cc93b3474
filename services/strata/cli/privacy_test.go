package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/gatewaytest"
)

// TestPrivacyEraseNeedsAdmin checks the command reaches the gateway and that the method
// is admin-only. (The erasure itself is exercised end to end by the suite scenario
// "right to erasure" in package suitetest.)
func TestPrivacyEraseNeedsAdmin(t *testing.T) {
	t.Parallel()
	cfg := gateway.DefaultConfig()
	cfg.AdminKeys = []string{"cli-admin"}
	addr := gatewaytest.Start(t, cfg).GRPC
	out, err := run(t, "keys", "--grpc", addr, "--admin-key", "cli-admin", "create", "--name", "sdk", "--scope", "track,recommend")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`).FindString(out)
	out, err = run(t, "privacy", "--grpc", addr, "--admin-key", secret, "erase", "u42")
	if err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Errorf("erase with a track key: got %q, %v; want PermissionDenied", out, err)
	}
	if _, err := run(t, "privacy", "erase"); err == nil {
		t.Errorf("erase without a user: got nil error")
	}
}
