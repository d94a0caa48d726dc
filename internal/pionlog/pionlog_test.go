package pionlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// countingStringer counts how often it is formatted.
type countingStringer struct{ n *int }

func (c countingStringer) String() string { *c.n++; return "x" }

func TestLevelsAndScope(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: LevelTrace, AddSource: true})
	l := New(slog.New(h)).NewLogger("turn")

	tests := []struct {
		name  string
		log   func()
		level string
		msg   string
	}{
		{"trace", func() { l.Trace("t") }, "DEBUG-4", "t"},
		{"tracef", func() { l.Tracef("t%d", 1) }, "DEBUG-4", "t1"},
		{"debug", func() { l.Debug("d") }, "DEBUG", "d"},
		{"debugf", func() { l.Debugf("d%s", "x") }, "DEBUG", "dx"},
		{"info", func() { l.Info("i") }, "INFO", "i"},
		{"infof", func() { l.Infof("i%v", true) }, "INFO", "itrue"},
		{"warn", func() { l.Warn("w") }, "WARN", "w"},
		{"warnf", func() { l.Warnf("w%q", "a") }, "WARN", `w"a"`},
		{"error", func() { l.Error("e") }, "ERROR", "e"},
		{"errorf", func() { l.Errorf("e%d", 2) }, "ERROR", "e2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			tt.log()
			var rec struct {
				Level  string `json:"level"`
				Msg    string `json:"msg"`
				Scope  string `json:"scope"`
				Source struct {
					File string `json:"file"`
				} `json:"source"`
			}
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("decode %q: %v", buf.String(), err)
			}
			if rec.Level != tt.level || rec.Msg != tt.msg || rec.Scope != "turn" {
				t.Errorf("got level=%q msg=%q scope=%q, want %q %q turn", rec.Level, rec.Msg, rec.Scope, tt.level, tt.msg)
			}
			if got := filepath.Base(rec.Source.File); got != "pionlog_test.go" {
				t.Errorf("source file = %q, want the caller's file", got)
			}
		})
	}
}

func TestDisabledLevelSkipsFormatting(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).NewLogger("ice")
	n := 0
	l.Debugf("%s", countingStringer{&n})
	l.Tracef("%s", countingStringer{&n})
	if n != 0 || buf.Len() != 0 {
		t.Fatalf("disabled levels formatted %d times and wrote %q", n, buf.String())
	}
	l.Warnf("%s", countingStringer{&n})
	if n != 1 || !strings.Contains(buf.String(), "scope=ice") {
		t.Fatalf("enabled level: formatted %d times, wrote %q", n, buf.String())
	}
}

func TestNilLoggerDiscards(t *testing.T) {
	for i, f := range []*Factory{nil, New(nil), {}} {
		l := f.NewLogger("x")
		if l == nil {
			t.Fatalf("factory %d returned a nil logger", i)
		}
		// Must not panic.
		l.Error("nothing happens")
		l.Errorf("%d", 1)
	}
}
