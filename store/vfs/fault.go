package vfs

import (
	"errors"
	"sync"
	"syscall"
)

// Op names a file operation that a fault can hit.
type Op int

// The operations a FaultFS can fail.
const (
	OpWrite Op = iota
	OpSync
	OpTruncate
	OpRename // name is the old name, p the new one
	OpRemove
	OpSyncDir // name is the file whose directory is synced
)

// ErrInjected is the error a Fault returns when a test only needs some failure.
var ErrInjected = errors.New("vfs: injected fault")

// ENOSPC is the error of a full disk, as the operating system reports it.
var ENOSPC error = syscall.ENOSPC

// A Fault decides the fate of one operation. For a write of len(p) bytes it returns how
// many bytes reach the file before err (n < len(p) with err != nil is a short or torn
// write); err == nil lets the operation through whole. For the other operations only err counts.
type Fault func(op Op, name string, off int64, p []byte) (n int, err error)

// FaultFS wraps an FS and passes every write, sync and truncate through Fault first.
type FaultFS struct {
	FS FS
	// Concurrent lets its user do work in goroutines of its own (the log's making of
	// segments ahead): the Fault must then be safe for concurrent use, and operations
	// come in no fixed order. Default false: Serial asks for everything in the caller,
	// so that a test counting operations meets them in the same order every run.
	Concurrent bool

	mu    sync.Mutex // guards fault
	fault Fault
}

// SetFault installs f (nil removes the fault).
func (fs *FaultFS) SetFault(f Fault) {
	fs.mu.Lock()
	fs.fault = f
	fs.mu.Unlock()
}

func (fs *FaultFS) current() Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fault
}

// Serial reports whether the FS asks for its operations in one deterministic order, from
// the callers' goroutines only (not Concurrent).
func (fs *FaultFS) Serial() bool { return !fs.Concurrent }

// OpenFile implements FS.
func (fs *FaultFS) OpenFile(name string, create bool) (File, error) {
	f, err := fs.FS.OpenFile(name, create)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs, name: name}, nil
}

// Exists implements FS.
func (fs *FaultFS) Exists(name string) (bool, error) { return fs.FS.Exists(name) }

// List implements FS.
func (fs *FaultFS) List(prefix string) ([]string, error) { return fs.FS.List(prefix) }

// Rename implements FS.
func (fs *FaultFS) Rename(oldname, newname string) error {
	if err := fs.check(OpRename, oldname, []byte(newname)); err != nil {
		return err
	}
	return fs.FS.Rename(oldname, newname)
}

// Remove implements FS.
func (fs *FaultFS) Remove(name string) error {
	if err := fs.check(OpRemove, name, nil); err != nil {
		return err
	}
	return fs.FS.Remove(name)
}

// SyncDir implements FS.
func (fs *FaultFS) SyncDir(name string) error {
	if err := fs.check(OpSyncDir, name, nil); err != nil {
		return err
	}
	return fs.FS.SyncDir(name)
}

// check passes a whole-or-nothing operation through the fault.
func (fs *FaultFS) check(op Op, name string, p []byte) error {
	if fault := fs.current(); fault != nil {
		_, err := fault(op, name, 0, p)
		return err
	}
	return nil
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if fault := f.fs.current(); fault != nil {
		if n, err := fault(OpWrite, f.name, off, p); err != nil {
			n = max(0, min(n, len(p)))
			if n > 0 {
				f.File.WriteAt(p[:n], off)
			}
			return n, err
		}
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if fault := f.fs.current(); fault != nil {
		if _, err := fault(OpSync, f.name, 0, nil); err != nil {
			return err
		}
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if fault := f.fs.current(); fault != nil {
		if _, err := fault(OpTruncate, f.name, size, nil); err != nil {
			return err
		}
	}
	return f.File.Truncate(size)
}
