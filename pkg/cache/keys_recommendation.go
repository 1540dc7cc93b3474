package cache

// Keys of the recommendation service. Per-user keys carry the user id in their {hash tag},
// so one Lua script can apply an event to a user's history, processed-event set and
// orders in one slot; the catalog and the active-user index are one key each.

// RecHistoryKey is the hash of a user's interactions: item id → "weight|unix|owned|negative|kind",
// the weight time-decayed to unix (seconds).
func RecHistoryKey(userID string) string { return "strata:rec:history:{" + userID + "}" }

// RecEventsKey is the sorted set (score = event time) of the user's latest applied event
// ids, which makes applying an event idempotent.
func RecEventsKey(userID string) string { return "strata:rec:events:{" + userID + "}" }

// RecOrdersKey is the hash of a user's orders: order id → comma-separated item ids.
func RecOrdersKey(userID string) string { return "strata:rec:orders:{" + userID + "}" }

// RecListKey holds a user's precomputed list for a scene (protobuf RecommendResponse).
func RecListKey(userID, scene string) string { return "strata:rec:list:{" + userID + "}:" + scene }

// Keys of the recommendation service that are not per user.
const (
	// RecActiveUsersKey is the sorted set of users by the time of their latest event
	// (unix seconds): who the models train on and whose lists are precomputed.
	RecActiveUsersKey = "strata:rec:active"
	// RecCatalogKey is the hash of catalog items: item id → protobuf CatalogItem, so
	// every instance sees the items of every catalog partition.
	RecCatalogKey = "strata:rec:catalog"
)
