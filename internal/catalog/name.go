package catalog

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// CheckName returns an error unless every Store can keep a record named
// name: it must be non-empty, valid UTF-8 and free of NUL bytes (which
// JSON encodings and PostgreSQL text cannot hold). Stores call it in
// CreateStream and CreateChannel; the control plane applies the stricter
// KVS name rules before that.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("catalog: empty name")
	case !utf8.ValidString(name):
		return errors.New("catalog: name is not valid UTF-8")
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("catalog: name contains a NUL byte")
	}
	return nil
}
