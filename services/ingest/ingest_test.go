package ingest_test

import (
	"errors"
	"testing"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/services/ingest"
	"github.com/stratahq/strata/services/ingest/ingesttest"
)

func TestScenariosEmbedded(t *testing.T) {
	t.Parallel()
	runScenarios(t, ingesttest.Embedded(t))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() ingest.Config {
		c := ingest.DefaultConfig()
		c.Kafka = bus.Config{Brokers: []string{"127.0.0.1:9092"}}
		c.Redis.Addrs = []string{"127.0.0.1:6379"}
		c.WriteKeys = map[string]string{"k": "web"}
		return c
	}
	tests := []struct {
		name string
		edit func(*ingest.Config)
		want error
	}{
		{"valid", func(*ingest.Config) {}, nil},
		{"no write keys", func(c *ingest.Config) { c.WriteKeys = nil }, ingest.ErrNoWriteKeys},
		{"no brokers", func(c *ingest.Config) { c.Kafka.Brokers = nil }, bus.ErrMissingBrokers},
		{"no redis", func(c *ingest.Config) { c.Redis.Addrs = nil }, cache.ErrMissingAddrs},
		{"negative limit", func(c *ingest.Config) { c.MaxInFlightBytes = -1 }, ingest.ErrInvalidLimits},
		{"no addresses", func(c *ingest.Config) { c.Server = server.Config{ShutdownTimeout: 1} }, server.ErrMissingGRPCAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Validate: got %v, want nil", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Validate: got %v, want %v", err, tt.want)
			}
		})
	}
}
