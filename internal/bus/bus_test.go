package bus

import "testing"

func TestValidSubject(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "a.b.c": true, "kvs.sig.node.x1": true, "_INBOX.x": true,
		"": false, ".": false, "a..b": false, "a.": false, ".a": false,
		"a.*": false, "a.>": false, "a b": false, "ü": false,
	} {
		if got := ValidSubject(s); got != want {
			t.Errorf("ValidSubject(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestToken(t *testing.T) {
	seen := make(map[string]string)
	for _, name := range []string{"", "cam-1", "cam.1", "cam~2e1", "a/b", "a:b", "A_b", "~"} {
		tok := Token(name)
		if !ValidSubject(tok) {
			t.Errorf("Token(%q) = %q is not a valid subject token", name, tok)
		}
		if prev, ok := seen[tok]; ok {
			t.Errorf("Token(%q) = Token(%q) = %q", name, prev, tok)
		}
		seen[tok] = name
	}
	if got := Token("cam-1_A"); got != "cam-1_A" {
		t.Errorf("Token kept no plain name: %q", got)
	}
}
