// Package bus moves Strata's messages through Kafka: it creates topics, publishes
// messages and runs consumer-group loops that hand each message to a plain
// typed [Handler], with retry, dead-lettering, panic recovery, tracing and
// metrics applied once, at wiring.
//
// # Producing
//
// [Producer.Publish] blocks until Kafka acknowledged every message with
// acks=all, and returns the error otherwise: a caller may acknowledge its own
// client only after Publish returned nil. Messages are partitioned by the
// murmur2 hash of their key, the partitioner of the Java client, so that a
// key lands on the same partition whichever client (Strata or an upstream
// Java/librdkafka producer) wrote it. A message with a nil key goes to a random
// partition. kafka-go has no idempotent producer: a retried write can store a
// message twice, so every consumer must be idempotent. A Producer is safe for
// concurrent use; concurrent Publish calls share batches.
//
// # Consuming
//
// A [Consumer] runs one loop per process: fetch, handle, commit. Offsets are
// committed synchronously after the handler returned nil (or after the message
// was dead-lettered), one message at a time, so delivery is at-least-once: a
// crash between handling and commit redelivers the message, nothing handled
// is lost, and nothing committed is delivered again to the group.
//
// Ordering: messages of one partition reach the handler in offset order, one
// at a time, and a message is never skipped. Messages of different partitions
// assigned to the same consumer are interleaved. Throughput scales by adding
// instances to the group, up to the partition count.
//
// A handler error is retried, not skipped. With the [Retry], [DeadLetter] and
// [Recover] middleware (see [Reliable]), transient errors are retried with
// exponential backoff a bounded number of times; errors marked [Permanent],
// panics and exhausted retries publish the message to the dead-letter topic
// with headers naming the error and its source ([HeaderError],
// [HeaderSourceTopic], [HeaderSourcePartition], [HeaderSourceOffset]), and the
// message is then committed so the partition keeps moving. If the
// dead-letter write itself fails the message is not committed; the whole
// chain is retried until it succeeds or the consumer stops.
//
// On cancellation of the context passed to [Consumer.Run], the consumer stops
// fetching, lets the in-flight handler finish (bounded by
// ConsumerConfig.DrainTimeout), commits it, leaves the group and returns nil.
// A message that is still being retried when the consumer stops is left
// uncommitted and will be redelivered.
//
// # Tracing and metrics
//
// Publish starts a producer span per message and writes its W3C trace context
// into the message headers; the consumer extracts it and starts a consumer
// span as its child, which the handler's context carries. Counters and
// histograms follow the OpenTelemetry messaging conventions
// (messaging.client.sent.messages, messaging.client.consumed.messages,
// messaging.process.duration) plus strata.bus.dlq.messages and the gauge
// strata.bus.consumer.lag (per partition, as of the last handled message).
package bus
