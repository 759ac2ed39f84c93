package vfs

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// ErrLocked reports that another process (or another open handle) holds the file's lock.
var ErrLocked = errors.New("file is locked by another process")

// FS opens files. Paths are the caller's; an FS does not interpret them.
type FS interface {
	// OpenFile opens name for reading and writing, creating it when create is set.
	OpenFile(name string, create bool) (File, error)
	// Exists reports whether name exists.
	Exists(name string) (bool, error)
}

// File is an open file.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes every completed write durable (fdatasync on Linux).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	// Lock takes an exclusive lock on the file without waiting; ErrLocked if it is held.
	// The lock goes with Close.
	Lock() error
	Close() error
}

// OS is the operating system's file system.
type OS struct{}

// OpenFile implements FS.
func (OS) OpenFile(name string, create bool) (File, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Exists implements FS.
func (OS) Exists(name string) (bool, error) {
	_, err := os.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

type osFile struct{ *os.File }

// Sync uses fdatasync: the engine never depends on file times, and the size change of an
// appending write is part of the data that fdatasync flushes.
func (f osFile) Sync() error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f osFile) Lock() error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return ErrLocked
	}
	return err
}
