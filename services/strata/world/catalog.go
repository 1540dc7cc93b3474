package world

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/stratahq/strata/services/strata/sink"
)

// item is a catalog item with its latent qualities.
type item struct {
	sink.Item
	typ, cat, creator int
	// tags are global tag indexes (cat*tagsPerCategory + i); tags[0] is the topic.
	tags []int
	en   bool
	// quality drives completion, ratings and refunds; appeal drives how often it is
	// seen (a long tail).
	quality, appeal  float64
	lessons, minutes int
	// priceRel is the price against the median of its type.
	priceRel float64
}

type creator struct {
	id, nameZH, nameEN string
	cat                int
	reputation         float64
}

// catalog holds the items and, per category, what sampling by appeal needs.
type catalog struct {
	creators []creator
	items    []item
	// byCat lists item indexes per category, cum the cumulative appeal of that list;
	// members lists the membership items per category.
	byCat   [numCategories][]int
	cum     [numCategories][]float64
	members [numCategories][]int
}

func newCatalog(cfg Config) *catalog {
	rng := newRand(cfg.Seed, streamCatalog, 0)
	c := &catalog{}
	nCreators := max(1, cfg.Items/10)
	for i := range nCreators {
		c.creators = append(c.creators, creator{
			id:         fmt.Sprintf("%sc%05d", cfg.Prefix, i+1),
			nameZH:     pick(rng, surnamesZH) + pick(rng, givenZH),
			nameEN:     pick(rng, firstEN) + " " + pick(rng, lastEN),
			cat:        i % numCategories,
			reputation: rng.NormFloat64() * 0.5,
		})
	}
	// The type mix is fixed by share, in a shuffled order, so that small catalogs
	// still hold every type.
	types := make([]int, cfg.Items)
	for i := range types {
		types[i] = typeForSlot(i, cfg.Items)
	}
	rng.Shuffle(len(types), func(i, j int) { types[i], types[j] = types[j], types[i] })

	seen := map[string]int{}
	for i := range cfg.Items {
		cr := rng.IntN(nCreators)
		cat := c.creators[cr].cat
		if rng.Float64() < 0.15 {
			cat = rng.IntN(numCategories)
		}
		c.items = append(c.items, c.newItem(rng, cfg, i, types[i], cat, cr, seen))
	}
	for i := range c.items {
		it := &c.items[i]
		if it.typ == membershipType {
			c.members[it.cat] = append(c.members[it.cat], i)
			continue // memberships are offered, not browsed
		}
		c.byCat[it.cat] = append(c.byCat[it.cat], i)
	}
	for k := range numCategories {
		total := 0.0
		for _, i := range c.byCat[k] {
			total += c.items[i].appeal
			c.cum[k] = append(c.cum[k], total)
		}
	}
	return c
}

// typeForSlot spreads item types by their shares over n slots (largest remainder).
func typeForSlot(i, n int) int {
	acc := 0.0
	for t, def := range itemTypes {
		acc += def.share
		if float64(i)+0.5 < acc*float64(n) {
			return t
		}
	}
	return 0
}

func (c *catalog) newItem(rng *rand.Rand, cfg Config, i, typ, cat, cr int, seen map[string]int) item {
	def := itemTypes[typ]
	cd := categories[cat]
	topicIdx := rng.IntN(tagsPerCategory)
	tags := []int{cat*tagsPerCategory + topicIdx}
	for range rng.IntN(3) {
		t := cat*tagsPerCategory + rng.IntN(tagsPerCategory)
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	en := rng.Float64() < 0.25
	quality := rng.NormFloat64()*0.8 + c.creators[cr].reputation
	appeal := math.Exp(rng.NormFloat64()*0.8 + 0.3*quality)
	lessons := def.lessons[0]
	if def.lessons[1] > def.lessons[0] {
		lessons += rng.IntN(def.lessons[1] - def.lessons[0] + 1)
	}
	minutes := def.minutes[0]
	if def.minutes[1] > def.minutes[0] {
		minutes += rng.IntN(def.minutes[1] - def.minutes[0] + 1)
	}
	// Better items sit a little higher on the price ladder.
	pi := rng.IntN(len(def.prices))
	if quality > 0.8 && pi+1 < len(def.prices) {
		pi++
	}
	price := def.prices[pi]
	median := def.prices[len(def.prices)/2]

	topic := cd.tags[topicIdx]
	topicZH, topicEN := topic.zh, topic.en
	if typ == membershipType {
		topicZH, topicEN, tags = cd.zh, cd.en, tags[:1]
	}
	cre := c.creators[cr]
	templates, name, topicName := titlesZH[typ], cre.nameZH, topicZH
	if en {
		templates, name, topicName = titlesEN[typ], cre.nameEN, topicEN
	}
	tpl := rng.IntN(len(templates))
	title := fmt.Sprintf(templates[tpl], topicName, name, lessons)
	// Distinct titles: a repeated one becomes a new season or volume.
	seen[title]++
	if n := seen[title]; n > 1 {
		if en {
			title = fmt.Sprintf("%s (Vol. %d)", title, n)
		} else {
			title = fmt.Sprintf("%s（第%d季）", title, n)
		}
	}
	level := rng.IntN(len(audiencesZH))
	var desc string
	switch {
	case typ == membershipType && en:
		desc = fmt.Sprintf("Unlimited access to live Q&A and member-only discounts in %s, billed monthly.", cd.en)
	case typ == membershipType:
		desc = fmt.Sprintf("畅享%s领域会员专属直播答疑与购课折扣，按月续费。", cd.zh)
	case en:
		desc = fmt.Sprintf("%s by %s: %d lessons that take you through %s, for %s.", capitalise(def.en), cre.nameEN, lessons, topicEN, audiencesEN[level])
	default:
		desc = fmt.Sprintf("%s主讲的%s，%d节内容带你系统掌握%s，适合%s。", cre.nameZH, def.zh, lessons, topicZH, audiencesZH[level])
	}
	slugs := make([]string, len(tags))
	for k, t := range tags {
		slugs[k] = tagSlug(t)
	}
	lang := "zh-CN"
	if en {
		lang = "en"
	}
	return item{
		Item: sink.Item{
			ItemID:      fmt.Sprintf("%si%06d", cfg.Prefix, i+1),
			Type:        def.enum,
			Title:       title,
			Description: desc,
			CreatorID:   cre.id,
			Category:    cd.slug,
			Tags:        slugs,
			PriceMinor:  price,
			Currency:    "CNY",
			Language:    lang,
			UpdatedAt:   cfg.start(),
		},
		typ: typ, cat: cat, creator: cr, tags: tags, en: en,
		quality: quality, appeal: appeal, lessons: lessons, minutes: minutes,
		priceRel: float64(price) / float64(median),
	}
}

// sample draws an item of category cat by appeal, or -1 when the category is empty.
func (c *catalog) sample(rng *rand.Rand, cat int) int {
	cum := c.cum[cat]
	if len(cum) == 0 {
		return -1
	}
	x := rng.Float64() * cum[len(cum)-1]
	return c.byCat[cat][sort.SearchFloat64s(cum, x)]
}

func tagSlug(t int) string { return categories[t/tagsPerCategory].tags[t%tagsPerCategory].slug }

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }
