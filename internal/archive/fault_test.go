package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/testinfra/faultfs"
)

// faultyOpen adapts fs.Open to Config.OpenFile.
func faultyOpen(fs *faultfs.Faults) func(string, int, os.FileMode) (File, error) {
	return func(name string, flag int, perm os.FileMode) (File, error) {
		f, err := fs.Open(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
}

// TestStorageFailure checks that a fragment the file system fails to store
// gets an ErrStorage error wrapping the cause, that the next fragment of
// the stream is stored and readable, and that nothing stored before is
// lost, before and after the archive is reopened. Each fragment starts a
// new segment.
func TestStorageFailure(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(*faultfs.Faults)
		want  error
	}{
		// The segment file is created, then the directory cannot be
		// opened to sync it.
		{"EMFILE creating a segment", func(fs *faultfs.Faults) { fs.FailDirOpen(syscall.EMFILE) }, syscall.EMFILE},
		{"ENOSPC writing a fragment", func(fs *faultfs.Faults) { fs.FailWrite(syscall.ENOSPC) }, syscall.ENOSPC},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultfs.Faults{}
			a := openTest(t, dir, Config{SegmentSize: 1, OpenFile: faultyOpen(fs)})
			payload := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 100) }
			var (
				stored []*Fragment
				data   [][]byte
			)
			store := func(i int) {
				stored = append(stored, put(t, a, "cam", time.Now(), payload(i), true))
				data = append(data, payload(i))
			}
			store(0)
			store(1)

			tt.fault(fs)
			f := &Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Frames: 1, Header: testHeader}
			if done, err := a.Put("cam", f, payload(2), true); !errors.Is(err, ErrStorage) || !errors.Is(err, tt.want) {
				if done != nil {
					err = <-done
				}
				t.Fatalf("Put with %v: %v, want ErrStorage and %v", tt.want, err, tt.want)
			}
			// Nothing of the failed fragment stays behind its segment's
			// last record.
			segs, _ := listSegments(filepath.Join(dir, "streams", "cam"))
			for _, id := range segs {
				f, err := os.Open(filepath.Join(dir, "streams", "cam", segmentName(id)))
				if err != nil {
					t.Fatal(err)
				}
				end, err := scanSegment(f, true, func(scannedRecord) error { return nil })
				fi, _ := f.Stat()
				f.Close()
				if err != nil || end != fi.Size() {
					t.Errorf("segment %d: records end at %d, file is %d bytes (%v)", id, end, fi.Size(), err)
				}
			}
			store(3)
			store(4)

			check := func(a *Archive) {
				t.Helper()
				list, _, err := a.List("cam", ServerTime, time.Time{}, time.Now().Add(time.Hour), Number{}, 100)
				if err != nil || len(list) != len(stored) {
					t.Fatalf("List: %d fragments (%v), want %d", len(list), err, len(stored))
				}
				for i, f := range list {
					b, err := a.ReadCluster("cam", f)
					if f.Number != stored[i].Number || err != nil || !bytes.Equal(b, data[i]) {
						t.Fatalf("fragment %d: %s %q %v, want %s", i, f.Number, b, err, stored[i].Number)
					}
				}
			}
			check(a)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			b := openTest(t, dir, Config{})
			check(b)
			// The failed attempt left no file behind.
			segs, err := listSegments(filepath.Join(dir, "streams", "cam"))
			if err != nil || len(segs) != len(stored) {
				t.Errorf("segments %v (%v), want %d", segs, err, len(stored))
			}
		})
	}
}
