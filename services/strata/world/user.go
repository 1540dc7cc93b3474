package world

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// affinityFloor is the weight every category gets before a user's noise, on top of the
// persona's weights (which sum to 1): with 12 categories, a persona's primary category
// (weight 0.5 to 0.55) keeps about (0.5+0.03)/(1+12·0.03) ≈ 39 % of a member's attention,
// 4.7 times its share of a uniform catalog, while a category outside the persona keeps
// about 2 %.
const affinityFloor = 0.03

// User is one simulated user: the traits identify calls carry and the latent tastes
// that drive their behaviour.
type User struct {
	Index       int
	ID          string
	AnonymousID string
	// Persona indexes Personas(): the user's latent taste cluster.
	Persona int

	AgeBand, Gender, Occupation, IncomeLevel, CityTier string
	// Interests are the categories the user declares: a noisy view of the tastes.
	Interests []string
	Locale    string
	Device    string
	// TimeZone is an IANA zone; Consent says which channels the user agreed to be
	// messaged on (email, push, sms, in_app), as identify traits carry it.
	TimeZone string
	Consent  map[string]bool

	// CategoryAffinity is the share of attention per category (sums to 1), indexed
	// like the categories of the vocabulary; TagAffinity is 0..1 per tag.
	CategoryAffinity []float64
	TagAffinity      []float64
	// PriceSensitivity is 0 (indifferent) to 1 (very sensitive).
	PriceSensitivity float64
	// Activity is sessions per week at the start of a habit.
	Activity float64
	// HabitDays is how fast the habit decays; ChurnHazard the daily chance of leaving.
	HabitDays, ChurnHazard float64
	// SignupAt is when the user joined; Existing users joined before the window.
	SignupAt time.Time
	Existing bool
}

func (w *World) newUser(rng *rand.Rand, i int) User {
	p := rng.IntN(len(personas))
	pd := personas[p]
	u := User{
		Index:       i,
		ID:          w.UserID(i),
		AnonymousID: fmt.Sprintf("%016x", rng.Uint64()),
		Persona:     p,
		AgeBand:     ageBands[weighted(rng, pd.age)],
		Gender:      genders[weighted(rng, pd.gender)],
		Occupation:  occupations[weighted(rng, pd.occupation)],
		IncomeLevel: incomes[weighted(rng, pd.income)],
		CityTier:    cityTiers[weighted(rng, pd.city)],
		Locale:      "zh-CN",
		Device:      devices[weighted(rng, []float64{0.45, 0.35, 0.1, 0.1})],
	}
	if rng.Float64() < pd.enLocale {
		u.Locale = "en"
	}

	u.CategoryAffinity = make([]float64, numCategories)
	sum := 0.0
	for c := range numCategories {
		a := (pd.Categories[categories[c].slug] + affinityFloor) * math.Exp(0.5*rng.NormFloat64())
		u.CategoryAffinity[c] = a
		sum += a
	}
	for c := range u.CategoryAffinity {
		u.CategoryAffinity[c] /= sum
	}
	u.TagAffinity = make([]float64, numTags)
	for t := range u.TagAffinity {
		a := 0.25 + 0.2*rng.NormFloat64()
		if slices.Contains(pd.Tags, tagSlug(t)) {
			a += 0.5
		}
		u.TagAffinity[t] = clamp(a, 0, 1)
	}

	base := incomeSensitivity[u.IncomeLevel]
	u.PriceSensitivity = clamp(base+0.15*rng.NormFloat64(), 0, 1)
	u.Activity = 1.6 * math.Exp(0.7*rng.NormFloat64()) * pd.activity
	u.HabitDays = 30 + 150*rng.Float64()
	u.ChurnHazard = 0.006 * math.Exp(0.5*rng.NormFloat64())

	// Declared interests: the two strongest categories, each most of the time, and now
	// and then one at random.
	order := make([]int, numCategories)
	for c := range order {
		order[c] = c
	}
	sort.SliceStable(order, func(a, b int) bool { return u.CategoryAffinity[order[a]] > u.CategoryAffinity[order[b]] })
	for _, c := range order[:2] {
		if rng.Float64() < 0.8 {
			u.Interests = append(u.Interests, categories[c].slug)
		}
	}
	if rng.Float64() < 0.3 {
		if s := categories[rng.IntN(numCategories)].slug; !slices.Contains(u.Interests, s) {
			u.Interests = append(u.Interests, s)
		}
	}

	start := w.cfg.start()
	if rng.Float64() < 0.3 {
		u.Existing = true
		u.SignupAt = start.Add(-time.Duration((1 + rng.Float64()*364) * float64(24*time.Hour)))
	} else {
		u.SignupAt = start.Add(time.Duration(rng.Float64() * float64(w.cfg.Days) * float64(24*time.Hour)))
	}
	u.SignupAt = u.SignupAt.Truncate(time.Second)
	return u
}

// consentRates is the share of users who agree to each channel at sign-up: in-app
// messages are on by default, SMS is what most refuse.
var consentRates = []struct {
	channel string
	rate    float64
}{{"in_app", 0.92}, {"push", 0.64}, {"email", 0.71}, {"sms", 0.28}}

// zones are the time zones of English-locale users (Chinese-locale ones live in
// Asia/Shanghai), with their weights.
var zones = []struct {
	name   string
	weight float64
}{{"Asia/Singapore", 0.3}, {"America/New_York", 0.25}, {"Europe/London", 0.2}, {"America/Los_Angeles", 0.15}, {"Australia/Sydney", 0.1}}

// contact draws the user's consent per channel and time zone.
func (u *User) contact(rng *rand.Rand) {
	u.Consent = make(map[string]bool, len(consentRates))
	for _, c := range consentRates {
		u.Consent[c.channel] = rng.Float64() < c.rate
	}
	u.TimeZone = "Asia/Shanghai"
	if u.Locale == "en" {
		w := make([]float64, len(zones))
		for i, z := range zones {
			w[i] = z.weight
		}
		u.TimeZone = zones[weighted(rng, w)].name
	}
}

func consentTraits(c map[string]bool) map[string]any {
	out := make(map[string]any, len(c))
	for ch, ok := range c {
		out[ch] = ok
	}
	return out
}

// incomeSensitivity is the mean price sensitivity of each income level.
var incomeSensitivity = map[string]float64{"low": 0.8, "middle": 0.6, "upper_middle": 0.4, "high": 0.2}

// traits are what identify calls carry.
func (u *User) traits(created time.Time) map[string]any {
	return map[string]any{
		"age_band":     u.AgeBand,
		"gender":       u.Gender,
		"occupation":   u.Occupation,
		"income_level": u.IncomeLevel,
		"city_tier":    u.CityTier,
		"interests":    slices.Clone(u.Interests),
		"locale":       u.Locale,
		"timezone":     u.TimeZone,
		"consent":      consentTraits(u.Consent),
		"createdAt":    created.Format(time.RFC3339),
	}
}

func weighted(rng *rand.Rand, w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	x := rng.Float64() * total
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
