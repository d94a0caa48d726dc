package ingest_test

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/ingest"
)

// storageFaults is an archive Config.OpenFile that fails on demand, as a
// file system does when the process is out of file descriptors or the
// disk is full.
type storageFaults struct {
	mu       sync.Mutex
	dirOpen  error // the next directory open fails with it
	segWrite error // the next segment write fails with it
}

func (fs *storageFaults) set(dirOpen, segWrite error) {
	fs.mu.Lock()
	fs.dirOpen, fs.segWrite = dirOpen, segWrite
	fs.mu.Unlock()
}

func (fs *storageFaults) open(name string, flag int, perm os.FileMode) (archive.File, error) {
	if !strings.HasSuffix(name, ".seg") {
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
	return &faultyFile{File: f, fs: fs}, nil
}

type faultyFile struct {
	*os.File
	fs *storageFaults
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
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

// TestPutMediaStorageFailure checks what a producer sees when the archive's
// file system fails: the fragment that could not be stored gets ERROR 5001
// (ARCHIVAL_ERROR), as KVS answers a fragment it failed to archive, and
// once the producer reconnects its next fragment is stored and readable,
// with every fragment acknowledged before. Each fragment starts a new
// segment file, so the EMFILE case fails one while creating it.
func TestPutMediaStorageFailure(t *testing.T) {
	for _, tt := range []struct {
		name              string
		dirOpen, segWrite error
	}{
		{"ENOSPC", nil, syscall.ENOSPC},
		{"EMFILE", syscall.EMFILE, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := &storageFaults{}
			h := newHarnessWith(t, ingest.Config{}, harnessOptions{archive: func(c *archive.Config) {
				c.SegmentSize, c.OpenFile = 1, fs.open
			}})
			h.createStream("cam", 24)
			// upload sends one fragment on a connection of its own.
			upload := func(tc uint64) []ack {
				s := startPutMedia(t, nil, h.url, putOptions{name: "cam"})
				if s.status != 200 {
					t.Fatalf("status %d: %s", s.status, s.errMsg)
				}
				syn := newSynth(t, 1)
				syn.cluster(t, tc, 3, 200)
				sendAll(t, s, syn.take(), 1<<20)
				return s.rest()
			}
			expectEvents(t, upload(1000), "BUFFERING", "RECEIVED", "PERSISTED")

			fs.set(tt.dirOpen, tt.segWrite)
			acks := upload(2000)
			expectEvents(t, acks, "BUFFERING", "ERROR")
			if e := acks[1]; e.errID() != 5001 || *e.ErrorCode != "ARCHIVAL_ERROR" || e.tc() != 2000 {
				t.Fatalf("ERROR ack %s, want 5001 ARCHIVAL_ERROR for timecode 2000", e.raw)
			}

			expectEvents(t, upload(3000), "BUFFERING", "RECEIVED", "PERSISTED")
			list, _, err := h.arch.List("cam", archive.ServerTime, time.Time{}, time.Now().Add(time.Hour), archive.Number{}, 10)
			if err != nil || len(list) != 2 {
				t.Fatalf("%d durable fragments (%v), want 2", len(list), err)
			}
			for i, want := range []uint64{1000, 3000} {
				got, _ := decodeStored(t, h.arch, "cam", list[i])
				if got.Timecode != want || len(got.Frames) != 3 {
					t.Errorf("fragment %d: timecode %d, %d frames; want %d, 3", i, got.Timecode, len(got.Frames), want)
				}
			}
		})
	}
}
