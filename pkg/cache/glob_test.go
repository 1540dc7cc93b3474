package cache

import "testing"

func TestGlobEscape(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"u1", "u1"},
		{"a*b?c", `a\*b\?c`},
		{`[x]\y`, `\[x\]\\y`},
		{"用户", "用户"},
	}
	for _, tt := range tests {
		if got := GlobEscape(tt.in); got != tt.want {
			t.Errorf("GlobEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
