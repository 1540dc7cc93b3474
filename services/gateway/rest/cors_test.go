package rest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name        string
		origins     []string
		method      string
		origin      string
		reqHeaders  string
		wantStatus  int
		wantOrigin  string
		wantHeaders string
	}{
		{"any origin", []string{"*"}, http.MethodGet, "https://a.example", "", http.StatusTeapot, "https://a.example", ""},
		{"any origin preflight", []string{"*"}, http.MethodOptions, "https://a.example", "authorization", http.StatusNoContent, "https://a.example", "authorization"},
		{"listed origin", []string{"https://a.example", "https://b.example"}, http.MethodGet, "https://b.example", "", http.StatusTeapot, "https://b.example", ""},
		{"scheme matters", []string{"https://a.example"}, http.MethodGet, "http://a.example", "", http.StatusTeapot, "", ""},
		{"empty entries allow nothing", []string{""}, http.MethodOptions, "null", "content-type", http.StatusForbidden, "", ""},
		{"no allowed header requested", []string{"*"}, http.MethodOptions, "https://a.example", "x-other", http.StatusNoContent, "https://a.example", "authorization, content-type"},
		{"no origin", []string{"*"}, http.MethodOptions, "", "", http.StatusTeapot, "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/api/v1/x", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if tt.method == http.MethodOptions && tt.origin != "" {
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", tt.reqHeaders)
		}
		w := httptest.NewRecorder()
		CORS(tt.origins, next).ServeHTTP(w, r)
		if w.Code != tt.wantStatus {
			t.Errorf("%s: status got %d, want %d", tt.name, w.Code, tt.wantStatus)
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
			t.Errorf("%s: Access-Control-Allow-Origin got %q, want %q", tt.name, got, tt.wantOrigin)
		}
		if got := w.Header().Get("Access-Control-Allow-Headers"); got != tt.wantHeaders {
			t.Errorf("%s: Access-Control-Allow-Headers got %q, want %q", tt.name, got, tt.wantHeaders)
		}
		if tt.origin != "" && w.Header().Get("Vary") == "" {
			t.Errorf("%s: Vary got empty, want Origin (responses differ by origin)", tt.name)
		}
	}
}
