// Package privacy is ingest's part of the right to erasure: [Requester] publishes a
// data subject's erasure request to strata.privacy.v1 (the suite's entry point, behind
// the admin RequestErasure call), and [Handler] consumes that topic and forgets the
// user's identity links (anonymous id ↔ user id) and dedup-window entries (their keys
// carry the sender's id) in ingest's Redis ledger, then publishes ingest's erasure
// receipt to strata.privacy.receipts.v1.
//
// Handling is idempotent: a replayed request finds no link left, changes nothing and
// publishes the receipt again (with no items) under the same key.
// Requester and Handler are safe for concurrent use.
package privacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/topics"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
)

// ErrMissingUser is returned (as permanent) for a request without a user or request id.
var ErrMissingUser = errors.New("privacy: request without a user or request id")

type publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Requester publishes erasure requests.
type Requester struct {
	pub   publisher
	topic string
	now   func() time.Time
}

// NewRequester returns a requester publishing through pub to topic (strata.privacy.v1
// when empty).
func NewRequester(pub publisher, topic string) *Requester {
	if topic == "" {
		topic = topics.Privacy
	}
	return &Requester{pub: pub, topic: topic, now: time.Now}
}

// RequestErasure publishes an erasure request for userID, keyed by it, and blocks until
// Kafka acknowledged it. An empty requestID is replaced by a random one; the request as
// published is returned.
func (r *Requester) RequestErasure(ctx context.Context, userID, requestID string) (*privacyv1.PrivacyRequest, error) {
	if userID == "" {
		return nil, ErrMissingUser
	}
	if requestID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		requestID = "erase-" + hex.EncodeToString(b[:])
	}
	req := &privacyv1.PrivacyRequest{
		RequestId: requestID, UserId: userID, Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE,
		RequestedAt: timestamppb.New(r.now()),
	}
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("privacy: encode request: %w", err)
	}
	if err := r.pub.Publish(ctx, bus.Message{Topic: r.topic, Key: []byte(userID), Value: b}); err != nil {
		return nil, fmt.Errorf("privacy: publish request: %w", err)
	}
	return req, nil
}

// identities forgets a user's identity links (package ledger).
type identities interface {
	ForgetUser(ctx context.Context, userID string) (int, error)
}

// ReceiptService is the service name of ingest's erasure receipts.
const ReceiptService = "ingest"

// Handler consumes strata.privacy.v1.
type Handler struct {
	ids identities
	pub publisher
	now func() time.Time
	log *slog.Logger
}

// NewHandler returns the consumer's handler; it publishes erasure receipts through pub
// to strata.privacy.receipts.v1.
func NewHandler(ids identities, pub publisher, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{ids: ids, pub: pub, now: time.Now, log: log}
}

// Handle is the bus handler: an erasure request forgets every anonymous id linked to, or
// merged into, the user, then publishes the receipt (blocking until Kafka acknowledged
// it; an error is retried, and the retry forgets nothing more). Other actions are
// skipped; an undecodable request is permanent.
func (h *Handler) Handle(ctx context.Context, msg bus.Message) error {
	r, err := Decode(msg)
	if err != nil || r == nil {
		return err
	}
	n, err := h.ids.ForgetUser(ctx, r.GetUserId())
	if err != nil {
		return fmt.Errorf("privacy: forget identities: %w", err)
	}
	b, err := proto.Marshal(&privacyv1.ErasureReceipt{RequestId: r.GetRequestId(), UserId: r.GetUserId(), Service: ReceiptService,
		CompletedAt: timestamppb.New(h.now()), Items: int64(n)})
	if err != nil {
		return fmt.Errorf("privacy: encode receipt: %w", err)
	}
	receipt := bus.Message{Topic: topics.PrivacyReceipts, Key: privacyv1.ReceiptKey(r.GetRequestId(), ReceiptService), Value: b}
	if err := h.pub.Publish(ctx, receipt); err != nil {
		return fmt.Errorf("privacy: publish receipt: %w", err)
	}
	h.log.InfoContext(ctx, "identity links erased", slog.String("request_id", r.GetRequestId()), slog.Int("links", n))
	return nil
}

// Decode returns the erasure request msg carries, nil (and no error) for a request of
// another action, or a permanent error for an undecodable or incomplete one.
func Decode(msg bus.Message) (*privacyv1.PrivacyRequest, error) {
	var r privacyv1.PrivacyRequest
	if err := proto.Unmarshal(msg.Value, &r); err != nil {
		return nil, bus.Permanent(fmt.Errorf("privacy: decode request at %s/%d/%d: %w", msg.Topic, msg.Partition, msg.Offset, err))
	}
	if r.GetUserId() == "" && len(msg.Key) > 0 {
		r.UserId = string(msg.Key)
	}
	if r.GetUserId() == "" || r.GetRequestId() == "" {
		return nil, bus.Permanent(fmt.Errorf("privacy: request at %s/%d/%d: %w", msg.Topic, msg.Partition, msg.Offset, ErrMissingUser))
	}
	if r.GetAction() != privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE {
		return nil, nil
	}
	return &r, nil
}
