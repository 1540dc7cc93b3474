package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/gateway"
	"github.com/stratahq/strata/services/gateway/gatewaytest"
)

func TestKeysCommands(t *testing.T) {
	t.Parallel()
	cfg := gateway.DefaultConfig()
	cfg.AdminKeys = []string{"cli-admin"}
	addr := gatewaytest.Start(t, cfg).GRPC
	keys := func(args ...string) (string, error) {
		return run(t, append([]string{"keys", "--grpc", addr, "--admin-key", "cli-admin"}, args...)...)
	}

	out, err := keys("create", "--name", "ios-app", "--scope", "read:self,recommend", "--user", "u42", "--rate", "5", "--burst", "10")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`).FindString(out)
	id := regexp.MustCompile(`key_[0-9a-f]{16}`).FindString(out)
	if secret == "" || id == "" || !strings.Contains(out, "not shown again") || !strings.Contains(out, "bound to user u42") {
		t.Fatalf("create output: got %q, want the id, the secret once and a warning", out)
	}

	out, err = keys("list")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if !strings.Contains(out, id) || !strings.Contains(out, "read:self,recommend") || !strings.Contains(out, "configured") || strings.Contains(out, secret) {
		t.Errorf("list output: got %q, want the new key and the configured one, no secret", out)
	}

	if out, err := keys("revoke", id); err != nil || !strings.Contains(out, "revoked key "+id) {
		t.Fatalf("revoke: got %q, %v", out, err)
	}
	out, err = keys("list", "--json")
	if err != nil {
		t.Fatalf("list --json: %v", err)
	}
	var listed struct {
		Keys []struct {
			KeyID     string `json:"key_id"`
			RevokedAt string `json:"revoked_at"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("list --json output %q: %v", out, err)
	}
	revoked := false
	for _, k := range listed.Keys {
		revoked = revoked || (k.KeyID == id && k.RevokedAt != "")
	}
	if !revoked {
		t.Errorf("list --json: got %q, want %s revoked", out, id)
	}

	out, err = keys("audit")
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	if !strings.Contains(out, "/strata.gateway.v1.KeyService/RevokeKey") || !strings.Contains(out, "/strata.gateway.v1.KeyService/CreateKey") {
		t.Errorf("audit output: got %q, want the create and the revoke", out)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scope", []string{"create", "--name", "x", "--scope", "root"}, `"root" is not one of`},
		{"read:self without a user", []string{"create", "--name", "x", "--scope", "read:self"}, "InvalidArgument"},
		{"unknown key", []string{"revoke", "key_missing"}, "NotFound"},
	}
	for _, tt := range tests {
		if _, err := keys(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := run(t, "keys", "list", "--grpc", addr, "--admin-key", "wrong"); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("wrong admin key: got %v, want Unauthenticated", err)
	}
}
