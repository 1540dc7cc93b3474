package recommendation

import (
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/cache"
	"github.com/stratahq/strata/pkg/server"
	"github.com/stratahq/strata/services/recommendation/engine"
)

func TestServiceEmbedded(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	runServiceScenario(t, bustest.Brokers(t), cache.Config{Addrs: []string{mr.Addr()}})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{
		Server: server.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", ShutdownTimeout: 1},
		Kafka:  bus.Config{Brokers: []string{"127.0.0.1:9092"}},
		Redis:  cache.Config{Addrs: []string{"127.0.0.1:6379"}},
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		modify func(*Config)
		want   error
	}{
		{"no redis", func(c *Config) { c.Redis.Addrs = nil }, cache.ErrMissingAddrs},
		{"no brokers", func(c *Config) { c.Kafka.Brokers = nil }, bus.ErrMissingBrokers},
		{"variants do not parse", func(c *Config) { c.Variants = "ease:50" }, ErrBadVariants},
		{"variants do not add up", func(c *Config) { c.Variants = "a:ease:30,b:itemknn:30" }, engine.ErrBadVariants},
		{"unknown model", func(c *Config) { c.Variants = "a:bpr:100" }, engine.ErrBadVariants},
		{"als variant", func(c *Config) { c.Variants = "a:als:50,b:ease:50" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid
			tt.modify(&c)
			if err := c.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	c := valid
	c.Variants, c.EASELambda, c.MaxEASEItems = "x:itemknn:100", 50, 10
	ec, err := c.engineConfig()
	if err != nil || ec.Variants[0].Name != "x" || ec.EASE.Lambda != 50 || ec.MaxEASEItems != 10 {
		t.Errorf("engineConfig: got %+v %v, want variant x, λ 50, 10 EASE items", ec, err)
	}
}
