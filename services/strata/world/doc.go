// Package world generates a synthetic paid-knowledge platform with structure to find:
// creators and a catalog, users with traits and latent tastes, and months of their
// behaviour as Segment-spec messages. It is what `strata seed` sends and what `make run`
// seeds, so that profiles, segments, models and recommendations have signal to work on.
//
// # The model
//
// The catalog mixes the six item types (course, column, audiobook, live class, ebook,
// membership) over twelve categories of six tags each, in Chinese (75 %) and English,
// priced in CNY minor units on each type's price ladder. Items have a latent quality
// (ratings, completion, refunds) and appeal (a long tail of popularity); creators have a
// home category and a reputation.
//
// Every user belongs to one of eight personas (Personas), the latent taste clusters.
// A persona weights a few categories and tags and leans the traits identify calls carry
// (age band, gender, occupation, income level, city tier, locale); a user's own
// category affinity is the persona's weights plus a floor, times log-normal noise (see
// affinityFloor for what that leaves to find). Price sensitivity follows income, and
// activity, habit decay and churn hazard vary per user. Declared interests are a noisy
// view of the tastes.
//
// Behaviour is simulated day by day in China Standard Time over Config.Days: sessions
// arrive with weekly seasonality and an hour-of-day profile, an onboarding boost that
// fades over the first weeks and a habit that decays; users churn (more in their first
// weeks, when dissatisfied) and some come back. In a session a user learns what they own
// (Lesson Started/Completed with progress and minutes, ratings and reviews when they
// finish or well into an item), browses items drawn by their tastes (Product Viewed,
// Item Favorited, Product Added) and checks out (Order Completed with products, coupon,
// discount and revenue), now and then subscribes to a monthly membership (Subscription
// Started, then Renewed or Cancelled), answers NPS, CSAT and CES surveys and opens
// support tickets; refunds follow poor fit or quality. 618 and Double 11 lift buying.
// Existing users (30 %) joined before the window and are simulated silently for 60 days
// before it, so they enter it with purchases and habits under way.
//
// Amounts are carried twice: as Segment's decimal major units (price, revenue) and as
// integer minor units (price_minor, revenue_minor), which is what the event contract's
// Order carries. Paid-knowledge events name the item item_id; e-commerce events follow
// Segment and name it product_id.
//
// # Determinism and streaming
//
// A Config gives the same world, byte for byte: every user is simulated from a random
// stream of its own, derived from the seed and the user's index, so users can be
// simulated in parallel and in any order. Message ids are "w<seed>-<user id>-<n>".
// Only the catalog is held in memory (New); Generate simulates users a bounded number
// ahead of its caller and hands their messages over user by user, so a world of a
// million users and tens of millions of events streams in constant memory. World's
// methods are safe for concurrent use; Generate calls its emit function from one
// goroutine.
package world
