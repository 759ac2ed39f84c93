package vfs

import (
	"os"
	"syscall"
)

// datasync uses fdatasync: the engine never depends on file times, and the size change
// of an appending write is part of the data that fdatasync flushes.
func datasync(f *os.File) error {
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
