package content

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/go-ego/gse"
)

// Tokenizer splits text into index terms: runs of Han characters are segmented into words
// with gse (search mode, so a compound also yields its parts: 数据分析 → 数据, 分析,
// 数据分析), Chinese stop words dropped; other letters and digits form words split on
// everything else, lower-cased, English stop words and one-letter words dropped, plural
// endings stripped (courses → course, stories → story).
//
// Traditional characters are cut by the same dictionary and gse's HMM for the words it
// lacks (loading the traditional dictionary too would double the cost below).
//
// The gse dictionary (simplified Chinese, embedded in the binary) is loaded the first
// time a text contains a Han character, not before: loading it takes about 2 s and
// 130 MiB of heap (measured on the 2-core development box; BenchmarkLoadDictionary), which
// a catalog without Chinese never pays. A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	dict   string // empty: the embedded dictionary
	once   sync.Once
	loaded atomic.Bool // the once has run
	seg    *gse.Segmenter
	err    error
}

// NewTokenizer returns a tokenizer with gse's embedded simplified-Chinese dictionary.
func NewTokenizer() *Tokenizer { return &Tokenizer{} }

// NewTokenizerWithDictionary returns a tokenizer segmenting Chinese with the given
// dictionary instead (gse's format: one "word frequency [part-of-speech]" per line), such
// as a platform's own vocabulary of course names; it loads in proportion to its size.
func NewTokenizerWithDictionary(dict string) *Tokenizer { return &Tokenizer{dict: dict} }

// gse keeps its HMM model (used for words not in the dictionary) in package variables
// that every segmenter's initialisation rewrites: loads are serialised here and the model
// is loaded once per process, before any segmenter can cut.
var (
	loadMu    sync.Mutex
	hmmLoaded bool
)

func loadSegmenter(dict string) (*gse.Segmenter, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	seg := &gse.Segmenter{NotLoadHMM: hmmLoaded, SkipLog: true}
	var err error
	if dict == "" {
		err = seg.LoadDictEmbed("zh_s")
	} else {
		err = seg.LoadDictStr(dict)
	}
	if err == nil {
		err = seg.LoadStopEmbed()
	}
	if err != nil {
		return nil, err
	}
	hmmLoaded = true
	return seg, nil
}

// segmenter loads gse on first use. A dictionary that fails to load leaves Han runs
// split into single characters.
func (t *Tokenizer) segmenter() *gse.Segmenter {
	t.once.Do(func() {
		t.seg, t.err = loadSegmenter(t.dict)
		t.loaded.Store(true)
	})
	if t.err != nil {
		return nil
	}
	return t.seg
}

// Tokens appends the terms of text to dst and returns it.
func (t *Tokenizer) Tokens(dst []string, text string) []string { return t.tokens(dst, text, true) }

// tokens is Tokens; without load, Han runs are cut into single characters unless the
// dictionary is loaded already.
func (t *Tokenizer) tokens(dst []string, text string, load bool) []string {
	for len(text) > 0 {
		r, size := utf8.DecodeRuneInString(text)
		switch {
		case unicode.Is(unicode.Han, r):
			end := runEnd(text, func(r rune) bool { return unicode.Is(unicode.Han, r) })
			dst = t.han(dst, text[:end], load)
			text = text[end:]
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			end := runEnd(text, func(r rune) bool {
				return (unicode.IsLetter(r) || unicode.IsDigit(r)) && !unicode.Is(unicode.Han, r)
			})
			if w := englishTerm(text[:end]); w != "" {
				dst = append(dst, w)
			}
			text = text[end:]
		default:
			text = text[size:]
		}
	}
	return dst
}

func runEnd(s string, in func(rune) bool) int {
	for i, r := range s {
		if !in(r) {
			return i
		}
	}
	return len(s)
}

func (t *Tokenizer) han(dst []string, run string, load bool) []string {
	if utf8.RuneCountInString(run) == 1 {
		return append(dst, run)
	}
	var seg *gse.Segmenter
	if load || t.loaded.Load() {
		seg = t.segmenter()
	}
	if seg == nil {
		for _, r := range run {
			dst = append(dst, string(r))
		}
		return dst
	}
	for _, w := range seg.CutSearch(run, true) {
		if w = strings.TrimSpace(w); w != "" && !seg.IsStop(w) {
			dst = append(dst, w)
		}
	}
	return dst
}

// englishTerm normalises one word: lower case, stop words and single letters dropped,
// plural endings stripped.
func englishTerm(w string) string {
	w = strings.ToLower(w)
	if utf8.RuneCountInString(w) < 2 || englishStop[w] {
		return ""
	}
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

var englishStop = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for from has have in into is it its
		of on or that the their this to was were will with you your how what why when who which
		we our us i me my can all more most about after before than then there these those so
		not no do does did via vs`) {
		m[w] = true
	}
	return m
}()
