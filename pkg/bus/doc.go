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
// A [Consumer] runs one loop per process: fetch, handle, commit. By default
// ([NewConsumer], ConsumerConfig.BatchSize 1) offsets are committed
// synchronously after the handler returned nil (or after the message was
// dead-lettered), one message at a time. With a BatchSize above 1 the loop
// fetches up to BatchSize messages (waiting at most BatchWait after the first),
// handles them, then commits their offsets in one request. A
// [NewBatchConsumer] hands the whole batch to one [BatchHandler] call; a
// plain [Handler] gets the messages one by one. Either way delivery is
// at-least-once: an offset is committed only after its message and every
// earlier message of its partition in the batch were handled; a crash between
// handling and commit redelivers at most the batch, nothing handled is lost,
// and nothing committed is delivered again to the group.
//
// Ordering: messages of one partition reach the handler in offset order, and
// a message is never skipped. Messages of different partitions assigned to
// the same consumer are interleaved (and share batches). Throughput scales by
// adding instances to the group, up to the partition count.
//
// A failed batch (the BatchHandler returned an error or panicked) is handled
// again one message at a time, in order, each message run as a batch of one
// through the middleware, so retry, dead-lettering and recovery apply per
// message: a poison message is dead-lettered and the rest of the batch moves
// on.
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
// ConsumerConfig.DrainTimeout), commits what was handled (a whole batch for a
// BatchHandler; the messages up to the in-flight one for a Handler), leaves
// the group and returns nil.
// A message that is still being retried when the consumer stops is left
// uncommitted and will be redelivered.
//
// # Tracing and metrics
//
// Publish starts one producer span per topic of the call and writes its W3C trace
// context into the headers of that topic's messages; the consumer extracts it and
// starts a consumer span as its child, which the handler's context carries. A batch
// gets one consumer span that continues the trace of its first message and links to
// the producer spans of (up to 128 of) the others. Counters and
// histograms follow the OpenTelemetry messaging conventions
// (messaging.client.sent.messages, messaging.client.consumed.messages,
// messaging.process.duration) plus strata.bus.dlq.messages and the gauge
// strata.bus.consumer.lag (per partition, as of the last handled message).
//
// # Scanning
//
// [Scan] reads a topic outside any consumer group, every partition from its
// first retained offset up to the end offsets it had when Scan was called,
// and returns: the bounded read that restores state from a compacted
// changelog or warms a cache up from retained events.
package bus
