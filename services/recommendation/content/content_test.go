package content

import (
	"slices"
	"testing"
)

func TestTokensEnglish(t *testing.T) {
	t.Parallel()
	tok := NewTokenizer()
	tests := []struct {
		in   string
		want []string
	}{
		{"Introduction to Go Programming", []string{"introduction", "go", "programming"}},
		{"Stories of the Courses, e.g. Python3!", []string{"story", "course", "python3"}},
		{"Class analysis: bus and business", []string{"class", "analysis", "bus", "business"}},
		{"", nil},
	}
	for _, tc := range tests {
		if got := tok.Tokens(nil, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Tokens(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	if tok.seg != nil {
		t.Errorf("the Chinese dictionary was loaded for English text")
	}
}

// testDictionary is a small gse dictionary: loading the embedded one takes minutes under
// the race detector.
const testDictionary = `数据 1000 n
分析 1000 vn
数据分析 500 n
机器 800 n
学习 1200 v
机器学习 400 n
入门 600 v
课程 700 n
经济学 300 n
宏观 200 n
微观 200 n
原理 300 n
投资 500 v
理财 300 v
基金 400 n
股票 400 n
经济 900 n
周期 300 n
`

func TestTokensChinese(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tok  func() *Tokenizer
	}{
		{"test dictionary", func() *Tokenizer { return NewTokenizerWithDictionary(testDictionary) }},
		{"embedded dictionary", NewTokenizer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "embedded dictionary" && raceEnabled {
				t.Skip("loading the embedded dictionary takes about a minute under the race detector; run without -race")
			}
			tokensChinese(t, tc.tok())
		})
	}
}

func tokensChinese(t *testing.T, tok *Tokenizer) {
	got := tok.Tokens(nil, "零基础学Python数据分析：机器学习入门课程")
	for _, want := range []string{"python", "数据", "分析", "数据分析", "机器", "学习", "入门", "课程"} {
		if !slices.Contains(got, want) {
			t.Errorf("Tokens: got %q, want it to contain %q", got, want)
		}
	}
	for _, stop := range []string{"：", "的"} {
		if slices.Contains(got, stop) {
			t.Errorf("Tokens: got %q, want no %q", got, stop)
		}
	}
}

func catalog() []Document {
	return []Document{
		{ID: "go1", Title: "Go programming basics", Description: "Learn goroutines and channels", Category: "programming", Tags: []string{"go", "concurrency"}},
		{ID: "go2", Title: "Advanced Go concurrency", Description: "Channels, goroutines, the scheduler", Category: "programming", Tags: []string{"go"}},
		{ID: "py1", Title: "Python for data analysis", Description: "pandas and numpy", Category: "data", Tags: []string{"python"}},
		{ID: "zh1", Title: "经济学原理", Description: "宏观经济学与微观经济学入门", Category: "经济", Tags: []string{"投资"}},
		{ID: "zh2", Title: "投资理财入门", Description: "基金、股票与经济周期", Category: "经济", Tags: []string{"理财"}},
		{ID: "art", Title: "Watercolour painting", Description: "Brushes and colour", Category: "art"},
	}
}

func TestSimilarAndSearch(t *testing.T) {
	t.Parallel()
	m, err := NewBuilder(NewTokenizerWithDictionary(testDictionary)).Fit(t.Context(), catalog())
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	tests := []struct {
		name  string
		got   []Match
		first string
	}{
		{"similar go1", m.Similar("go1", 3, nil), "go2"},
		{"similar zh1", m.Similar("zh1", 3, nil), "zh2"},
		{"interest basics", m.Search(m.Query("basics"), 3, nil), "go1"},
		{"interest 经济", m.Search(m.Query("经济学"), 3, nil), "zh1"},
		{"profile python", m.Search(m.Profile([]string{"py1", "unknown"}, []float64{1, 5}), 3, func(id string) bool { return id == "py1" }), ""},
	}
	for _, tc := range tests {
		if tc.first == "" {
			if len(tc.got) != 0 {
				t.Errorf("%s: got %v, want nothing (no other item shares a term)", tc.name, tc.got)
			}
			continue
		}
		if len(tc.got) == 0 || tc.got[0].ID != tc.first {
			t.Errorf("%s: got %v, want %s first", tc.name, tc.got, tc.first)
		}
		for _, mt := range tc.got {
			if mt.Score <= 0 || mt.Score > 1+1e-9 {
				t.Errorf("%s: score %v of %s, want a cosine in (0, 1]", tc.name, mt.Score, mt.ID)
			}
		}
	}
	if got := m.Similar("go1", 10, nil); slices.ContainsFunc(got, func(mt Match) bool { return mt.ID == "go1" || mt.ID == "art" }) {
		t.Errorf("Similar(go1): got %v, want neither itself nor the unrelated art item", got)
	}
	if got := m.Similar("nothing", 3, nil); got != nil {
		t.Errorf("Similar(unknown): got %v, want nil", got)
	}
}

func TestBuilderRefitsChangedDocuments(t *testing.T) {
	t.Parallel()
	b := NewBuilder(NewTokenizerWithDictionary(testDictionary))
	docs := catalog()
	if _, err := b.Fit(t.Context(), docs); err != nil {
		t.Fatalf("Fit: %v", err)
	}
	// A new item (cold start) and a changed one: both searchable after the next fit.
	docs[5].Title = "Watercolour for go players"
	docs = append(docs, Document{ID: "new", Title: "Kubernetes operators", Tags: []string{"cloud"}})
	m, err := b.Fit(t.Context(), docs)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if got := m.Search(m.Query("kubernetes"), 1, nil); len(got) != 1 || got[0].ID != "new" {
		t.Errorf("search for the new item: got %v, want new", got)
	}
	if got := m.Search(m.Query("players"), 1, nil); len(got) != 1 || got[0].ID != "art" {
		t.Errorf("search for the changed item: got %v, want art", got)
	}
	if m.Len() != 7 || !m.Has("new") {
		t.Errorf("model: got %d items, want 7 with new", m.Len())
	}
	// Dropped documents leave the cache.
	if _, err := b.Fit(t.Context(), docs[:1]); err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if len(b.cache) != 1 {
		t.Errorf("cache: got %d documents, want 1", len(b.cache))
	}
}

func TestDot(t *testing.T) {
	t.Parallel()
	a := Vector{{0, 1}, {2, 2}, {5, 1}}
	b := Vector{{2, 3}, {4, 1}, {5, 2}}
	if got := Dot(a, b); got != 8 {
		t.Errorf("Dot: got %v, want 8", got)
	}
}

// BenchmarkLoadDictionary measures loading the embedded simplified-Chinese dictionary,
// which a Tokenizer does once, at the first Han character.
func BenchmarkLoadDictionary(b *testing.B) {
	for b.Loop() {
		if NewTokenizer().segmenter() == nil {
			b.Fatal("dictionary did not load")
		}
	}
}

func TestQueryDoesNotLoadTheDictionary(t *testing.T) {
	t.Parallel()
	tok := NewTokenizerWithDictionary(testDictionary)
	m, err := NewBuilder(tok).Fit(t.Context(), catalog()[:3]) // English only
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if got := m.Search(m.Query("经济学 and go"), 3, nil); len(got) == 0 || tok.loaded.Load() {
		t.Errorf("query with Chinese on an English catalog: got %v, loaded %v; want go items without loading the dictionary", got, tok.loaded.Load())
	}
}
