package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandlerServesTheEmbeddedBuild(t *testing.T) {
	t.Parallel()
	h := Handler()
	tests := []struct {
		name, method, path string
		wantCode           int
		wantType           string
	}{
		{"index at the root", http.MethodGet, Path, http.StatusOK, "text/html; charset=utf-8"},
		{"index by name", http.MethodGet, Path + "index.html", http.StatusOK, "text/html; charset=utf-8"},
		{"script", http.MethodGet, Path + "app.js", http.StatusOK, "text/javascript; charset=utf-8"},
		{"styles", http.MethodGet, Path + "app.css", http.StatusOK, "text/css; charset=utf-8"},
		{"head", http.MethodHead, Path + "app.js", http.StatusOK, "text/javascript; charset=utf-8"},
		{"unknown file", http.MethodGet, Path + "nope.js", http.StatusNotFound, ""},
		{"outside the prefix", http.MethodGet, "/elsewhere", http.StatusNotFound, ""},
		{"no writes", http.MethodPost, Path, http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("%s %s: got %d, want %d", tt.method, tt.path, rec.Code, tt.wantCode)
			}
			if tt.wantCode != http.StatusOK {
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type: got %q, want %q", got, tt.wantType)
			}
			if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
				t.Errorf("Content-Security-Policy: got %q, want script-src 'self'", got)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
			}
			if tt.method == http.MethodGet && rec.Body.Len() == 0 {
				t.Errorf("empty body")
			}
		})
	}
}

// TestIndexReferencesBuiltFiles guards against a build whose index.html names files
// the build did not produce.
func TestIndexReferencesBuiltFiles(t *testing.T) {
	t.Parallel()
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(rec.Body.String(), -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d files, want the script and the styles", len(refs))
	}
	for _, m := range refs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+m[1], nil))
		if rec.Code != http.StatusOK {
			t.Errorf("index.html references %s: got %d, want 200", m[1], rec.Code)
		}
	}
}

func TestHandlerCachingAndCompression(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("console.log('strata');\n", 200)
	h, err := newHandler(fstest.MapFS{
		"dist/index.html": {Data: []byte("<!doctype html><title>x</title>")},
		"dist/app.js":     {Data: []byte(body)},
	}, "dist")
	if err != nil {
		t.Fatal(err)
	}
	get := func(hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, Path+"app.js", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	plain := get(nil)
	if plain.Code != http.StatusOK || plain.Body.String() != body || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("plain: got %d encoding %q, want 200 with the file as is", plain.Code, plain.Header().Get("Content-Encoding"))
	}
	etag := plain.Header().Get("ETag")
	if etag == "" || plain.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("plain: got ETag %q Cache-Control %q, want a strong ETag and no-cache", etag, plain.Header().Get("Cache-Control"))
	}
	if got := get(map[string]string{"If-None-Match": etag}).Code; got != http.StatusNotModified {
		t.Errorf("revalidation: got %d, want 304", got)
	}

	gz := get(map[string]string{"Accept-Encoding": "br, gzip"})
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("ETag") == etag {
		t.Fatalf("gzip: got encoding %q ETag %q, want gzip with its own ETag", gz.Header().Get("Content-Encoding"), gz.Header().Get("ETag"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || string(got) != body {
		t.Errorf("gzip: body does not decompress to the file (err %v)", err)
	}
	if enc := get(map[string]string{"Accept-Encoding": "gzip;q=0"}).Header().Get("Content-Encoding"); enc != "" {
		t.Errorf("gzip;q=0: got encoding %q, want none", enc)
	}
}

func TestNewHandlerNeedsIndex(t *testing.T) {
	t.Parallel()
	if _, err := newHandler(fstest.MapFS{"dist/app.js": {Data: []byte("x")}}, "dist"); err == nil {
		t.Errorf("a build without index.html: got no error, want one")
	}
}
