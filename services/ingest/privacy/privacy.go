// Package privacy is ingest's part of the right to erasure: [Requester] publishes a
// data subject's erasure request to strata.privacy.v1 (the suite's entry point, behind
// the admin RequestErasure call), and [Handler] consumes that topic and forgets the
// user's identity links (anonymous id ↔ user id) and dedup-window entries (their keys
// carry the sender's id) in ingest's Redis ledger.
//
// Handling is idempotent: a replayed request finds no link left and changes nothing.
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

// Handler consumes strata.privacy.v1.
type Handler struct {
	ids identities
	log *slog.Logger
}

// NewHandler returns the consumer's handler.
func NewHandler(ids identities, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{ids: ids, log: log}
}

// Handle is the bus handler: an erasure request forgets every anonymous id linked to, or
// merged into, the user. Other actions are skipped; an undecodable request is permanent.
func (h *Handler) Handle(ctx context.Context, msg bus.Message) error {
	r, err := Decode(msg)
	if err != nil || r == nil {
		return err
	}
	n, err := h.ids.ForgetUser(ctx, r.GetUserId())
	if err != nil {
		return fmt.Errorf("privacy: forget identities: %w", err)
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
