package consoletest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/suitetest"
)

// TestGatewayServesConsole checks, without a browser, that the gateway serves the
// embedded console and its files next to the REST API the console calls.
func TestGatewayServesConsole(t *testing.T) {
	s := suitetest.Start(t, strata.Config{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, wantType, wantBody string
		wantCode                 int
		wantLocation             string
	}{
		{"/console/", "text/html; charset=utf-8", `<script type="module" src="app.js">`, http.StatusOK, ""},
		{"/console/app.js", "text/javascript; charset=utf-8", "", http.StatusOK, ""},
		{"/console/app.css", "text/css; charset=utf-8", "", http.StatusOK, ""},
		{"/console", "", "", http.StatusTemporaryRedirect, "/console/"},
		{"/console/missing.js", "", "", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := noRedirect.Get("http://" + s.HTTP + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("GET %s: got %d, want %d", tt.path, resp.StatusCode, tt.wantCode)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("GET %s: Location %q, want %q", tt.path, got, tt.wantLocation)
			}
			if got := resp.Header.Get("Content-Type"); tt.wantType != "" && got != tt.wantType {
				t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("GET %s: body lacks %q", tt.path, tt.wantBody)
			}
		})
	}
	// The console logs in by listing segments with the key it was given.
	if code, _ := s.GetJSON(t, "/api/v1/admin/segments?page_size=1"); code != http.StatusOK {
		t.Errorf("the console's login call: got %d, want 200", code)
	}
	// The admin reads behind the overview's events per minute, the keys and the audit pages.
	for _, path := range []string{"/api/v1/admin/keys", "/api/v1/admin/audit"} {
		if code, out := s.GetJSON(t, path); code != http.StatusOK {
			t.Errorf("GET %s: got %d %v, want 200", path, code, out)
		}
	}
	if code, st := s.GetJSON(t, "/api/v1/admin/ingest/stats"); code != http.StatusOK || len(asList(st["minutes"])) != 60 {
		t.Errorf("GET /api/v1/admin/ingest/stats: got %d %v, want 200 and 60 minutes", code, st)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
