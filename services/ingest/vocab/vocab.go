// Package vocab is the vocabulary of behaviour events Strata recognises: the Segment
// e-commerce names that fit paid knowledge and the paid-knowledge events of DESIGN.md.
//
// [Canonical] maps the spellings upstream systems use ("lesson_completed",
// "Lesson completed", "LESSON-COMPLETED") to one canonical name ("Lesson Completed");
// a name outside the vocabulary is a custom event and is kept as sent. The package holds
// only values and pure functions; it is safe for concurrent use.
package vocab

import "strings"

// Event names of the vocabulary.
const (
	ProductViewed         = "Product Viewed"
	ProductAdded          = "Product Added"
	OrderCompleted        = "Order Completed"
	OrderRefunded         = "Order Refunded"
	LessonStarted         = "Lesson Started"
	LessonCompleted       = "Lesson Completed"
	ItemFavorited         = "Item Favorited"
	ItemRated             = "Item Rated"
	ReviewSubmitted       = "Review Submitted"
	SubscriptionStarted   = "Subscription Started"
	SubscriptionRenewed   = "Subscription Renewed"
	SubscriptionCancelled = "Subscription Cancelled"
	SurveyAnswered        = "Survey Answered"
	SupportTicketOpened   = "Support Ticket Opened"
	SupportTicketResolved = "Support Ticket Resolved"
	RecommendationShown   = "Recommendation Shown"
	RecommendationClicked = "Recommendation Clicked"
	MessageDelivered      = "Message Delivered"
	MessageOpened         = "Message Opened"
	MessageClicked        = "Message Clicked"
	// IdentityMerged is published by ingest itself when an anonymous history joins a
	// user (see package pipeline); upstream systems do not send it.
	IdentityMerged = "Identity Merged"
)

// Names returns every name of the vocabulary, in a stable order. The caller owns the
// slice.
func Names() []string {
	return []string{
		ProductViewed, ProductAdded, OrderCompleted, OrderRefunded,
		LessonStarted, LessonCompleted, ItemFavorited, ItemRated, ReviewSubmitted,
		SubscriptionStarted, SubscriptionRenewed, SubscriptionCancelled,
		SurveyAnswered, SupportTicketOpened, SupportTicketResolved,
		RecommendationShown, RecommendationClicked,
		MessageDelivered, MessageOpened, MessageClicked,
		IdentityMerged,
	}
}

var canonical = func() map[string]struct{} {
	m := make(map[string]struct{}, len(Names()))
	for _, n := range Names() {
		m[n] = struct{}{}
	}
	return m
}()

var byFold = func() map[string]string {
	m := make(map[string]string, len(Names())+2)
	for _, n := range Names() {
		m[fold(n)] = n
	}
	// British and American spellings both occur upstream.
	m[fold("Subscription Canceled")] = SubscriptionCancelled
	m[fold("Item Favourited")] = ItemFavorited
	return m
}()

// Canonical returns the canonical spelling of name and true when name is in the
// vocabulary, whatever its case and separators (spaces, '_', '-', '.'); otherwise it
// returns name trimmed and false: a custom event.
func Canonical(name string) (string, bool) {
	if _, ok := canonical[name]; ok {
		return name, true // the common case, without folding
	}
	name = strings.TrimSpace(name)
	if c, ok := byFold[fold(name)]; ok {
		return c, true
	}
	return name, false
}

// fold lowers name and turns runs of separators into single spaces.
func fold(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	space := false
	for _, r := range strings.ToLower(name) {
		switch r {
		case ' ', '_', '-', '.', '\t':
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
