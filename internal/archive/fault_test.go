package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faults is a Config.OpenFile that fails on demand, as a file system does
// when the process is out of file descriptors or the disk is full.
type faults struct {
	mu       sync.Mutex
	dirOpen  error // the next directory open fails with it
	segWrite error // the next segment write fails with it
}

func (fs *faults) failDirOpen(err error)  { fs.mu.Lock(); fs.dirOpen = err; fs.mu.Unlock() }
func (fs *faults) failSegWrite(err error) { fs.mu.Lock(); fs.segWrite = err; fs.mu.Unlock() }

func (fs *faults) open(name string, flag int, perm os.FileMode) (File, error) {
	if !strings.HasSuffix(name, segExt) {
		fs.mu.Lock()
		err := fs.dirOpen
		fs.dirOpen = nil
		fs.mu.Unlock()
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs}, nil
}

type faultFile struct {
	*os.File
	fs *faults
}

// WriteAt fails after writing part of p, as a write that runs out of
// space does.
func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	err := f.fs.segWrite
	f.fs.segWrite = nil
	f.fs.mu.Unlock()
	if err != nil {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return f.File.WriteAt(p, off)
}

// TestStorageFailure checks that a fragment the file system fails to store
// gets an ErrStorage error wrapping the cause, that the next fragment of
// the stream is stored and readable, and that nothing stored before is
// lost, before and after the archive is reopened. Each fragment starts a
// new segment.
func TestStorageFailure(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(*faults)
		want  error
	}{
		// The segment file is created, then the directory cannot be
		// opened to sync it.
		{"EMFILE creating a segment", func(fs *faults) { fs.failDirOpen(syscall.EMFILE) }, syscall.EMFILE},
		{"ENOSPC writing a fragment", func(fs *faults) { fs.failSegWrite(syscall.ENOSPC) }, syscall.ENOSPC},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faults{}
			a := openTest(t, dir, Config{SegmentSize: 1, OpenFile: fs.open})
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
