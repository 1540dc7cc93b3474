package bus_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stratahq/strata/pkg/bus"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := bus.Config{Brokers: []string{"127.0.0.1:19092"}}
	tests := []struct {
		name string
		cfg  bus.Config
		want error
	}{
		{"valid", ok, nil},
		{"no brokers", bus.Config{}, bus.ErrMissingBrokers},
		{"broker without port", bus.Config{Brokers: []string{"localhost"}}, bus.ErrInvalidBroker},
		{"empty broker", bus.Config{Brokers: []string{""}}, bus.ErrInvalidBroker},
		{"negative partitions", bus.Config{Brokers: ok.Brokers, Partitions: -1}, bus.ErrInvalidPartitions},
		{"negative replication", bus.Config{Brokers: ok.Brokers, ReplicationFactor: -1}, bus.ErrInvalidReplicationFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cfg.Validate(); !errors.Is(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	t.Parallel()
	base := bus.Config{Brokers: []string{"127.0.0.1:19092"}}
	tests := []struct {
		name string
		cfg  bus.ConsumerConfig
		want error
	}{
		{"valid", bus.ConsumerConfig{Config: base, GroupID: "g", Topics: []string{"t"}}, nil},
		{"bad shared config", bus.ConsumerConfig{GroupID: "g", Topics: []string{"t"}}, bus.ErrMissingBrokers},
		{"no group", bus.ConsumerConfig{Config: base, Topics: []string{"t"}}, bus.ErrMissingGroup},
		{"no topics", bus.ConsumerConfig{Config: base, GroupID: "g"}, bus.ErrMissingTopics},
		{"empty topic", bus.ConsumerConfig{Config: base, GroupID: "g", Topics: []string{""}}, bus.ErrMissingTopics},
		{"negative duration", bus.ConsumerConfig{Config: base, GroupID: "g", Topics: []string{"t"}, MaxWait: -time.Second}, bus.ErrInvalidDuration},
		{"negative batch wait", bus.ConsumerConfig{Config: base, GroupID: "g", Topics: []string{"t"}, BatchWait: -time.Second}, bus.ErrInvalidDuration},
		{"negative batch size", bus.ConsumerConfig{Config: base, GroupID: "g", Topics: []string{"t"}, BatchSize: -1}, bus.ErrInvalidBatchSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cfg.Validate(); !errors.Is(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProducerConfigValidate(t *testing.T) {
	t.Parallel()
	base := bus.Config{Brokers: []string{"127.0.0.1:19092"}}
	tests := []struct {
		name string
		cfg  bus.ProducerConfig
		want error
	}{
		{"valid", bus.ProducerConfig{Config: base}, nil},
		{"no brokers", bus.ProducerConfig{}, bus.ErrMissingBrokers},
		{"negative batch timeout", bus.ProducerConfig{Config: base, BatchTimeout: -1}, bus.ErrInvalidDuration},
		{"negative batch size", bus.ProducerConfig{Config: base, BatchSize: -1}, bus.ErrInvalidBatchSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cfg.Validate(); !errors.Is(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseBrokers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"127.0.0.1:19092", []string{"127.0.0.1:19092"}},
		{" a:1, b:2 ,,", []string{"a:1", "b:2"}},
	}
	for _, tt := range tests {
		if got := bus.ParseBrokers(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseBrokers(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}
