// Package console serves Strata's web console: a single-page application for operators
// and marketers, built from the npm project in web/ by `make console` and embedded here
// from dist/ so that `go build` needs no Node. The built files are committed like
// generated code; `make console-check` rebuilds them and fails if they differ.
//
// The console is static: it holds no secret and calls the gateway's REST API
// (/api/v1/...) from the browser with the API key the operator logs in with, so the
// files are served without authentication. Every file is read and hashed once, when
// the handler is built; responses carry a strong ETag and a gzip variant when the
// client accepts it. The handler is safe for concurrent use.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the gateway mounts the console; the handler serves paths under it.
const Path = "/console/"

//go:embed dist
var dist embed.FS

// contentSecurityPolicy allows the console's own script and styles only. Inline styles
// are allowed because ECharts positions its tooltips with style attributes; the API is
// on the same origin.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// file is one built file, ready to serve.
type file struct {
	name        string
	contentType string
	body        []byte
	etag        string
	gzipped     []byte // nil when compression does not pay
}

// Handler returns the handler serving the embedded console under Path: Path itself
// serves index.html, Path+name serves the built file name, and anything else is 404.
// It panics if the embedded build is missing index.html, which would be a build defect.
func Handler() http.Handler {
	h, err := newHandler(dist, "dist")
	if err != nil {
		panic(err)
	}
	return h
}

type handler struct {
	files map[string]*file
}

func newHandler(fsys fs.FS, root string) (*handler, error) {
	h := &handler{files: map[string]*file{}}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, root+"/")
		sum := sha256.Sum256(body)
		f := &file{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		f.contentType = mime.TypeByExtension(path.Ext(name))
		if f.contentType == "" {
			f.contentType = http.DetectContentType(body)
		}
		f.gzipped = compress(body)
		h.files[name] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: read embedded build: %w", err)
	}
	if h.files["index.html"] == nil {
		return nil, fmt.Errorf("console: embedded build has no index.html: run make console")
	}
	return h, nil
}

// compress returns body gzipped, or nil when that saves less than a tenth.
func compress(body []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if b.Len() > len(body)*9/10 {
		return nil
	}
	return b.Bytes()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f := h.files[name]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Vary", "Accept-Encoding")
	body, etag := f.body, f.etag
	if f.gzipped != nil && acceptsGzip(r) {
		body, etag = f.gzipped, strings.TrimSuffix(f.etag, `"`)+`-gzip"`
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip without q=0.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
