package bus

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Message is one Kafka record.
type Message struct {
	// Topic is the topic to publish to, or the topic it was consumed from.
	Topic string
	// Key decides the partition (murmur2, as the Java client); the
	// canonical user id on user-keyed topics.
	Key []byte
	// Value is the payload; nil is a tombstone on compacted topics.
	Value []byte
	// Headers are the record headers. Publish adds the trace context.
	Headers []Header

	// Partition, Offset and Time are set on consumed messages and ignored
	// by Publish (the broker assigns them).
	Partition int
	Offset    int64
	Time      time.Time
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Header returns the value of the last header named key.
func (m Message) Header(key string) (string, bool) {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return string(m.Headers[i].Value), true
		}
	}
	return "", false
}

func fromKafka(km kafka.Message) Message {
	m := Message{
		Topic:     km.Topic,
		Key:       km.Key,
		Value:     km.Value,
		Partition: km.Partition,
		Offset:    km.Offset,
		Time:      km.Time,
	}
	if len(km.Headers) > 0 {
		m.Headers = make([]Header, len(km.Headers))
		for i, h := range km.Headers {
			m.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

// headerCarrier adapts Kafka headers to propagation.TextMapCarrier.
type headerCarrier struct{ headers *[]kafka.Header }

func (c headerCarrier) Get(key string) string {
	hs := *c.headers
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value)
		}
	}
	return ""
}

// Set replaces every header named key, so re-publishing a consumed message
// carries the new trace context, not the old one.
func (c headerCarrier) Set(key, value string) {
	hs := (*c.headers)[:0]
	for _, h := range *c.headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	*c.headers = append(hs, kafka.Header{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.headers))
	for _, h := range *c.headers {
		keys = append(keys, h.Key)
	}
	return keys
}
