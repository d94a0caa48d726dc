// Package faultfs injects file system failures, for tests: a Faults' Open
// serves as archive.Config.OpenFile (through a small adapter to
// archive.File) and fails the next directory open or file write
// on demand, as a process out of file descriptors or a full disk does.
package faultfs

import (
	"os"
	"sync"
)

// Faults fails chosen file operations once each. The zero value fails
// nothing; it is safe for concurrent use.
type Faults struct {
	mu       sync.Mutex
	dirOpen  error
	segWrite error
}

// FailDirOpen makes the next open of a directory (the archive opens one to
// sync the entries created in it) fail with err, e.g. syscall.EMFILE.
func (fs *Faults) FailDirOpen(err error) { fs.mu.Lock(); fs.dirOpen = err; fs.mu.Unlock() }

// FailWrite makes the next write to a file opened by Open write half its
// bytes and fail with err, e.g. syscall.ENOSPC.
func (fs *Faults) FailWrite(err error) { fs.mu.Lock(); fs.segWrite = err; fs.mu.Unlock() }

// take returns and clears *p.
func (fs *Faults) take(p *error) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	err := *p
	*p = nil
	return err
}

// Open opens name as os.OpenFile does, failing as told.
func (fs *Faults) Open(name string, flag int, perm os.FileMode) (*File, error) {
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		if err := fs.take(&fs.dirOpen); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &File{File: f, fs: fs}, nil
}

// File is a file opened by Faults.Open.
type File struct {
	*os.File
	fs *Faults
}

// WriteAt writes as os.File.WriteAt does, failing as told.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.take(&f.fs.segWrite); err != nil {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return f.File.WriteAt(p, off)
}
