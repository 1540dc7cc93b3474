// Package sink carries Segment-spec messages and catalog items to where they are going:
// JSONL files, the Segment HTTP API (/v1/batch), the IngestService gRPC API, or straight
// to the strata.events.raw.v1 Kafka topic. `strata seed`, `strata replay` and the seeding
// of `strata up` all write through it.
//
// A Sink takes messages one at a time with Send. The network sinks batch them (the
// Segment API takes up to 100 messages and 500 KB per request; IngestBatch up to 500
// events) and deliver the batches from several workers at once. Messages are routed to a
// worker by user id, so one user's messages are delivered in the order they were sent,
// the order Kafka then keeps on the user's partition. Batches that meet back-pressure
// (HTTP 429 or 503, gRPC Unavailable or ResourceExhausted, a broken connection) are
// retried with exponential backoff; other failures stop the sink, and Send and Close
// report them. Message ids are stable, so a retried batch is deduplicated downstream.
//
// A Sink is used by one goroutine: Send, SendItems and Close must not be called
// concurrently. Stats may be read at any time.
package sink
