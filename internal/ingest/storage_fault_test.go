package ingest_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/internal/testinfra/faultfs"
)

// faultyOpen adapts fs.Open to archive.Config.OpenFile.
func faultyOpen(fs *faultfs.Faults) func(string, int, os.FileMode) (archive.File, error) {
	return func(name string, flag int, perm os.FileMode) (archive.File, error) {
		f, err := fs.Open(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
}

// TestPutMediaStorageFailure checks what a producer sees when the archive's
// file system fails: the fragment that could not be stored gets ERROR 5001
// (ARCHIVAL_ERROR), as KVS answers a fragment it failed to archive, and
// once the producer reconnects its next fragment is stored and readable,
// with every fragment acknowledged before. Each fragment starts a new
// segment file, so the EMFILE case fails one while creating it.
func TestPutMediaStorageFailure(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(*faultfs.Faults)
	}{
		{"ENOSPC", func(fs *faultfs.Faults) { fs.FailWrite(syscall.ENOSPC) }},
		{"EMFILE", func(fs *faultfs.Faults) { fs.FailDirOpen(syscall.EMFILE) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := &faultfs.Faults{}
			h := newHarnessWith(t, ingest.Config{}, harnessOptions{archive: func(c *archive.Config) {
				c.SegmentSize, c.OpenFile = 1, faultyOpen(fs)
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

			tt.fault(fs)
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
