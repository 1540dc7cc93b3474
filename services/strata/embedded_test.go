package strata

import (
	"errors"
	"testing"
)

// TestDevKeysOnlyEmbedded checks that the development keys are on only without any real
// infrastructure: one real address is enough to require configured keys.
func TestDevKeysOnlyEmbedded(t *testing.T) {
	t.Parallel()
	base := Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}
	keys := func(c Config) Config {
		c.WriteKeys, c.AdminKeys = map[string]string{"wk": "src"}, []string{"ak"}
		return c
	}
	tests := []struct {
		name         string
		cfg          Config
		wantEmbedded bool
		wantErr      error
	}{
		{"nothing given", base, true, nil},
		{"real Kafka", Config{Brokers: []string{"k:9092"}, HTTPAddr: base.HTTPAddr, GRPCAddr: base.GRPCAddr}, false, ErrMissingKeys},
		{"real Redis", Config{RedisAddrs: []string{"r:6379"}, HTTPAddr: base.HTTPAddr, GRPCAddr: base.GRPCAddr}, false, ErrMissingKeys},
		{"real PostgreSQL", Config{PostgresURL: "postgres://x", HTTPAddr: base.HTTPAddr, GRPCAddr: base.GRPCAddr}, false, ErrMissingKeys},
		{"real PostgreSQL with keys", keys(Config{PostgresURL: "postgres://x", HTTPAddr: base.HTTPAddr, GRPCAddr: base.GRPCAddr}), false, nil},
	}
	for _, tt := range tests {
		if got := tt.cfg.Embedded(); got != tt.wantEmbedded {
			t.Errorf("%s: Embedded got %v, want %v", tt.name, got, tt.wantEmbedded)
		}
		if err := tt.cfg.Validate(); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Validate got %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}
