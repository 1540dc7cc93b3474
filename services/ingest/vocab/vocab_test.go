package vocab_test

import (
	"testing"

	"github.com/stratahq/strata/services/ingest/vocab"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		known    bool
	}{
		{"Lesson Completed", vocab.LessonCompleted, true},
		{"lesson_completed", vocab.LessonCompleted, true},
		{" LESSON--COMPLETED ", vocab.LessonCompleted, true},
		{"order.completed", vocab.OrderCompleted, true},
		{"Subscription Canceled", vocab.SubscriptionCancelled, true},
		{"item favourited", vocab.ItemFavorited, true},
		{"  Watched Trailer ", "Watched Trailer", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, known := vocab.Canonical(tt.in)
		if got != tt.want || known != tt.known {
			t.Errorf("Canonical(%q): got %q, %v; want %q, %v", tt.in, got, known, tt.want, tt.known)
		}
	}
	for _, n := range vocab.Names() {
		if got, known := vocab.Canonical(n); got != n || !known {
			t.Errorf("Canonical(%q): got %q, %v; want itself, known", n, got, known)
		}
	}
}
