package rest

import (
	"net/http"
	"slices"
	"strings"
)

// CORS lets web clients on the allowed origins call next from the browser. An origin
// matches exactly (scheme, host and port, as the browser sends it); "*" allows every
// origin. Preflight requests (OPTIONS with Access-Control-Request-Method) are answered
// here, before authentication, since browsers send them without credentials: 204 with
// the allowed methods and headers for an allowed origin, 403 otherwise. Credentials
// travel in the Authorization header, never cookies, so credentialed CORS is not enabled.
// Requests without an Origin header pass through untouched; empty origins are ignored.
func CORS(origins []string, next http.Handler) http.Handler {
	origins = slices.DeleteFunc(slices.Clone(origins), func(o string) bool { return o == "" })
	all := slices.Contains(origins, "*")
	allowed := func(origin string) bool { return all || slices.Contains(origins, origin) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if !allowed(origin) {
			if preflight {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if !preflight {
			h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", allowedHeaders(r.Header.Get("Access-Control-Request-Headers")))
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

const corsMethods = "GET, POST, PUT, PATCH, DELETE"

// corsHeaders are the request headers web clients may send.
var corsHeaders = []string{"authorization", "content-type", "traceparent", "tracestate", "x-request-id"}

// allowedHeaders is the part of the requested headers that clients may send.
func allowedHeaders(requested string) string {
	var out []string
	for h := range strings.SplitSeq(requested, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if slices.Contains(corsHeaders, h) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return "authorization, content-type"
	}
	return strings.Join(out, ", ")
}
