package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	// List returns the names that begin with prefix, sorted. The directory searched is
	// the prefix's own (everything up to its last separator).
	List(prefix string) ([]string, error)
	// Rename renames oldname to newname, replacing newname if it exists. Like Remove, it
	// is durable only after SyncDir.
	Rename(oldname, newname string) error
	Remove(name string) error
	// SyncDir makes durable the directory entries (creations, renames, removals) of the
	// directory that holds name.
	SyncDir(name string) error
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

// List implements FS.
func (OS) List(prefix string) ([]string, error) {
	dir, base := filepath.Split(prefix)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents { // ReadDir sorts by name
		if strings.HasPrefix(e.Name(), base) {
			names = append(names, filepath.Join(filepath.Dir(prefix), e.Name()))
		}
	}
	return names, nil
}

// Rename implements FS.
func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Remove implements FS.
func (OS) Remove(name string) error { return os.Remove(name) }

// SyncDir implements FS: fsync of the directory itself.
func (OS) SyncDir(name string) error {
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
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
