package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
	"github.com/stratahq/strata/services/recommendation/signal"
)

// ErrUnknownAction is returned by Feedback for an action it does not know.
var ErrUnknownAction = errors.New("engine: unknown feedback action")

// feedbackWindow is how long a repeat of the same feedback counts as a retry: feedback
// ids name the action, item, list, position and the window it falls in, so a client
// retrying a call is recorded once while a click on the same item days later still
// counts. The ids share the store's bounded per-user event set, so they cost no
// unbounded memory.
const feedbackWindow = time.Hour

var actions = map[recommendationv1.FeedbackAction]signal.Action{
	recommendationv1.FeedbackAction_FEEDBACK_ACTION_CLICK:   signal.ActionClick,
	recommendationv1.FeedbackAction_FEEDBACK_ACTION_DISMISS: signal.ActionDismiss,
	recommendationv1.FeedbackAction_FEEDBACK_ACTION_LIKE:    signal.ActionLike,
}

// Feedback records a user's action on a recommended item, as an event would: a click or
// a like adds interest, a dismissal marks the item negative so it is no longer
// recommended, and refreshes the user's cached list before returning. It reports whether
// the feedback was new (false for a retry within the same hour).
func (e *Engine) Feedback(ctx context.Context, req *recommendationv1.FeedbackRequest) (bool, error) {
	a, ok := actions[req.GetAction()]
	if !ok {
		return false, fmt.Errorf("%w: %v", ErrUnknownAction, req.GetAction())
	}
	now := e.now()
	id := fmt.Sprintf("feedback/%d/%q/%q/%d/%d", a, req.GetItemId(), req.GetListId(), req.GetPosition(), now.Truncate(feedbackWindow).Unix())
	f := signal.FromAction(req.GetUserId(), req.GetItemId(), a, now, id, e.cfg.Weights)
	applied, err := e.apply(ctx, req.GetUserId(), f)
	if err != nil {
		return applied, fmt.Errorf("engine: feedback: %w", err)
	}
	return applied, nil
}
