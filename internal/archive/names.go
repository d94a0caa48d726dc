package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Stream directories. A KVS stream name ([a-zA-Z0-9_.-]{1,256}) is its
// directory's name, with a leading dot written as "%2E" so that ".", ".."
// and hidden names stay ordinary directories. A name that does not fit in
// one directory name (maxDirName bytes) or has other characters gets a
// hashed directory instead: "%H", 32 hex digits of its SHA-256, a dot and
// its first characters (for people looking at the data dir); the name
// itself is kept in the directory's nameFile, written before the first
// segment. "%" is not a KVS name character, so the two forms never meet.
const (
	maxDirName  = 255 // NAME_MAX of ext4, XFS, btrfs, tmpfs
	dotPrefix   = "%2E"
	hashPrefix  = "%H"
	nameFile    = "stream-name"
	hashDigits  = 32
	hashPreview = 64
)

// dirName maps a stream name to its directory name.
func dirName(name string) string {
	if plainName(name) {
		if strings.HasPrefix(name, ".") {
			name = dotPrefix + name[1:]
		}
		if len(name) <= maxDirName {
			return name
		}
	}
	sum := sha256.Sum256([]byte(name))
	preview := []byte(name[:min(len(name), hashPreview)])
	for i, c := range preview {
		if !nameChar(c) {
			preview[i] = '_'
		}
	}
	return hashPrefix + hex.EncodeToString(sum[:])[:hashDigits] + "." + string(preview)
}

// hashedDir reports whether dir is a hashed directory name, whose stream
// name is in its nameFile.
func hashedDir(dir string) bool { return strings.HasPrefix(dir, hashPrefix) }

// plainName reports whether name is a KVS stream name.
func plainName(name string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		if !nameChar(name[i]) {
			return false
		}
	}
	return true
}

func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// streamName returns the stream kept in directory dir of the streams
// directory, reading the name file of a hashed one.
func (a *Archive) streamName(dir string) (string, bool) {
	switch {
	case hashedDir(dir):
		b, err := os.ReadFile(filepath.Join(a.dir, dir, nameFile))
		name := string(b)
		if err != nil || dirName(name) != dir {
			// Never written (a crash before the first segment) or not
			// ours: no stream's data is in it.
			a.log.Warn("archive: skipping stream directory without a valid name file", "dir", dir, "err", err)
			return "", false
		}
		return name, true
	case strings.HasPrefix(dir, dotPrefix):
		return "." + dir[len(dotPrefix):], true
	case strings.HasPrefix(dir, ".") || dir == "":
		return "", false
	}
	return dir, true
}

// makeDir creates st's directory, with the name file of a hashed one, and
// makes it durable. Callers hold wmu.
func (st *stream) makeDir() error {
	a := st.a
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return err
	}
	if hashedDir(filepath.Base(st.dir)) {
		f, err := a.cfg.OpenFile(filepath.Join(st.dir, nameFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, err = f.WriteAt([]byte(st.name), 0)
		if err == nil {
			err = f.Sync()
		}
		if e := f.Close(); err == nil {
			err = e
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", nameFile, err)
		}
		if err := a.syncDir(st.dir); err != nil {
			return err
		}
	}
	return a.syncDir(a.dir)
}
