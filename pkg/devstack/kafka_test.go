package devstack_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/stratahq/strata/pkg/devstack"
)

func TestStartKafkaRandomPort(t *testing.T) {
	t.Parallel()
	k, err := devstack.StartKafka(t.Context(), devstack.KafkaConfig{})
	if err != nil {
		t.Fatalf("StartKafka: %v", err)
	}
	defer k.Close()
	brokers := k.Brokers()
	if len(brokers) != 1 {
		t.Fatalf("got brokers %v, want one", brokers)
	}
	host, _, err := net.SplitHostPort(brokers[0])
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("got broker %q, want 127.0.0.1:port", brokers[0])
	}
	// It speaks Kafka: metadata names itself as the only broker.
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	md, err := client.Metadata(t.Context(), &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Brokers) != 1 || net.JoinHostPort(md.Brokers[0].Host, strconv.Itoa(md.Brokers[0].Port)) != brokers[0] {
		t.Errorf("got metadata brokers %+v, want just %s", md.Brokers, brokers[0])
	}
}

func TestStartKafkaGivenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	k, err := devstack.StartKafka(t.Context(), devstack.KafkaConfig{Port: port})
	if err != nil {
		t.Fatalf("StartKafka(port %d): %v", port, err)
	}
	if got, want := k.Brokers(), "127.0.0.1:"+strconv.Itoa(port); len(got) != 1 || got[0] != want {
		t.Errorf("got brokers %v, want [%s]", got, want)
	}
	// Close is idempotent and frees the port.
	for range 2 {
		if err := k.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if _, err := net.Dial("tcp", k.Brokers()[0]); err == nil {
		t.Errorf("dial after Close: got a connection, want refused")
	}
}

func TestStartKafkaPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	_, err = devstack.StartKafka(t.Context(), devstack.KafkaConfig{Port: ln.Addr().(*net.TCPAddr).Port})
	if err == nil {
		t.Errorf("StartKafka on a busy port: got nil error, want one")
	}
}

func TestStartKafkaCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := devstack.StartKafka(ctx, devstack.KafkaConfig{}); err == nil {
		t.Errorf("StartKafka(cancelled): got nil error, want one")
	}
}
