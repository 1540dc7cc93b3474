package cache

import "strings"

// GlobEscape escapes the characters Redis's glob patterns (SCAN MATCH, KEYS) treat as
// special, so that an id taken from user input matches only itself in a pattern.
func GlobEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
