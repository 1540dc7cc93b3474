package cache

// Keys of the ingest service: the dedup window and the identity map. Each carries, in its
// {hash tag}, the user or anonymous id it is about, so the keys of one sender share a
// cluster slot with the sender's other per-user keys.

// IngestDedupKey marks the event (source, messageID) as published, for the dedup window.
// sender is the event's userId as sent, else its anonymousId: stable across a client's
// retries of the same message.
func IngestDedupKey(sender, source, messageID string) string {
	return "strata:ingest:dedup:{" + sender + "}:" + source + ":" + messageID
}

// IngestAnonKey is the hash of what ingest knows about an anonymous (or previous) id: the
// user it is linked to and whether events were published under it before the link.
func IngestAnonKey(anonymousID string) string {
	return "strata:ingest:anon:{" + anonymousID + "}"
}
