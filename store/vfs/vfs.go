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

// Sync makes the file's data durable (datasync: fdatasync where the system has it).
func (f osFile) Sync() error { return datasync(f.File) }

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
