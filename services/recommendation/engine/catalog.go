package engine

import (
	"maps"
	"slices"
	"strings"
	"sync"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/recommendation/content"
	"github.com/stratahq/strata/services/recommendation/signal"
)

// meta is what the service knows about an item: from the catalog when it has the item,
// else from the properties of the events that named it.
type meta struct {
	title, category, itemType string
	price                     int64
	hasPrice                  bool
	fromCatalog               bool
	removed                   bool
}

// catalog is the in-memory item index; safe for concurrent use.
type catalog struct {
	mu    sync.RWMutex
	items map[string]meta
	// docs are the texts of the live catalog items, for the content model; version
	// counts their changes.
	docs    map[string]content.Document
	version int64
}

func newCatalog() *catalog {
	return &catalog{items: map[string]meta{}, docs: map[string]content.Document{}}
}

func documentOf(it *eventv1.CatalogItem) content.Document {
	return content.Document{
		ID: it.GetItemId(), Title: it.GetTitle(), Description: it.GetDescription(),
		Category: it.GetCategory(), Tags: it.GetTags(),
	}
}

// documents returns the texts of the live catalog items and the version they are of.
func (c *catalog) documents() ([]content.Document, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]content.Document, 0, len(c.docs))
	for _, d := range c.docs {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b content.Document) int { return strings.Compare(a.ID, b.ID) })
	return out, c.version
}

// changed reports whether the documents changed since version.
func (c *catalog) changed(version int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version != version
}

func (c *catalog) get(id string) (meta, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.items[id]
	return m, ok
}

// title is the item's title, or its id when unknown.
func (c *catalog) title(id string) string {
	if m, ok := c.get(id); ok && m.title != "" {
		return m.title
	}
	return id
}

func catalogMeta(it *eventv1.CatalogItem) meta {
	return meta{
		title: it.GetTitle(), category: it.GetCategory(), itemType: normaliseType(it.GetType().String()),
		price: it.GetPriceMinor(), hasPrice: true, fromCatalog: true,
	}
}

func (c *catalog) put(it *eventv1.CatalogItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[it.GetItemId()] = catalogMeta(it)
	c.docs[it.GetItemId()] = documentOf(it)
	c.version++
}

// remove records a tombstone: the item is never recommended again.
func (c *catalog) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[id] = meta{removed: true, fromCatalog: true}
	delete(c.docs, id)
	c.version++
}

// learn records what an event says about an item the catalog does not describe.
func (c *catalog) learn(s signal.Signal) {
	if s.Category == "" && s.ItemType == "" && s.PriceMinor == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.items[s.Item]
	if ok && m.fromCatalog {
		return
	}
	if s.Category != "" {
		m.category = s.Category
	}
	if s.ItemType != "" {
		m.itemType = normaliseType(s.ItemType)
	}
	if s.PriceMinor > 0 {
		m.price, m.hasPrice = s.PriceMinor, true
	}
	c.items[s.Item] = m
}

// replace loads the full catalog (from Redis, which every instance writes): its entries
// win; a catalog item it no longer has was deleted by the instance that consumed the
// tombstone; items the catalog never had keep what events said about them.
func (c *catalog) replace(items []*eventv1.CatalogItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := make(map[string]bool, len(items))
	docs := make(map[string]content.Document, len(items))
	for _, it := range items {
		live[it.GetItemId()] = true
		c.items[it.GetItemId()] = catalogMeta(it)
		docs[it.GetItemId()] = documentOf(it)
	}
	if !maps.EqualFunc(docs, c.docs, sameDocument) {
		c.docs = docs
		c.version++
	}
	for id, m := range c.items {
		if m.fromCatalog && !m.removed && !live[id] {
			c.items[id] = meta{removed: true, fromCatalog: true}
		}
	}
}

// inCategory returns the known, live items of a category.
func (c *catalog) inCategory(category string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for id, m := range c.items {
		if !m.removed && m.category == category && category != "" {
			out = append(out, id)
		}
	}
	return out
}

func sameDocument(a, b content.Document) bool {
	return a.ID == b.ID && a.Title == b.Title && a.Description == b.Description &&
		a.Category == b.Category && slices.Equal(a.Tags, b.Tags)
}
