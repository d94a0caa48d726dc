package blob

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"s_cam/91000", true},
		{"a.b/..c/d..", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a\\b", false},
		{"a\x00b", false},
		{strings.Repeat("x", 900), true},
		{strings.Repeat("x", 901), false},
	}
	for _, tc := range tests {
		err := CheckKey(tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Errorf("CheckKey(%q) = %v, not ErrBadKey", tc.key, err)
		}
	}
}

// FuzzCheckKey: every key CheckKey accepts is a clean relative path that
// stays below its root, so implementations can map it to files safely.
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "a//b", "./a", "a/..", "\x00", "s_cam/91000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || key == ".." || strings.HasPrefix(key, "../") {
			t.Fatalf("CheckKey accepted %q, which is not a clean relative path", key)
		}
	})
}
