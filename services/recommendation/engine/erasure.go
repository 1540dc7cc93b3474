package engine

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stratahq/strata/pkg/bus"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
)

// handlePrivacy carries out a strata.privacy.v1 erasure request: the user's history,
// orders, traits, cached lists and place among the active users are deleted from Redis
// (Store.EraseUser). The trained models keep no per-user state that serving reads: they
// score from the history in Redis, which is gone, so the user gets the cold-start
// fallbacks at once; the next training leaves the user out because the index of active
// users no longer names them. Then the service's receipt goes to
// strata.privacy.receipts.v1, counting the keys deleted. Replaying the request deletes
// nothing more and publishes the receipt again (0 keys, same key). Events of the user
// that arrive later start a fresh history.
func (e *Engine) handlePrivacy(ctx context.Context, msg bus.Message) error {
	r := &privacyv1.PrivacyRequest{}
	if err := bus.DecodeProto(msg, r); err != nil {
		return err
	}
	user := r.GetUserId()
	if user == "" {
		user = string(msg.Key)
	}
	if user == "" || r.GetRequestId() == "" {
		return bus.Permanent(fmt.Errorf("engine: privacy request at %s/%d/%d without a user or request id", msg.Topic, msg.Partition, msg.Offset))
	}
	if r.GetAction() != privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE {
		return nil
	}
	n, err := e.store.EraseUser(ctx, user)
	if err != nil {
		return err
	}
	if e.cfg.Receipts != nil {
		b, err := proto.Marshal(&privacyv1.ErasureReceipt{RequestId: r.GetRequestId(), UserId: user, Service: ReceiptService,
			CompletedAt: timestamppb.New(e.now()), Items: n})
		if err != nil {
			return bus.Permanent(fmt.Errorf("engine: encode erasure receipt: %w", err))
		}
		receipt := bus.Message{Topic: e.cfg.ReceiptsTopic, Key: privacyv1.ReceiptKey(r.GetRequestId(), ReceiptService), Value: b}
		if err := e.cfg.Receipts.Publish(ctx, receipt); err != nil {
			return fmt.Errorf("engine: publish erasure receipt: %w", err)
		}
	}
	e.log.InfoContext(ctx, "recommendation state erased", slog.String("request_id", r.GetRequestId()), slog.Int64("keys", n))
	return nil
}

// ReceiptService is the service name of the recommendation service's erasure receipts.
const ReceiptService = "recommendation"
