package log

import (
	"os"
	"syscall"
)

// datasync makes f's data durable with fdatasync: the data and what is needed to read
// it back (the size, the blocks), not the file times. Writing into room that zeros
// already occupy on disk then changes no metadata at all, and the fsync needs no
// journal commit: see Log.makeRoom.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// startWriteback asks the kernel to begin writing f's bytes [off, off+n) to disk now,
// without waiting for it, so that a later fsync finds less to do.
func startWriteback(f *os.File, off, n int64) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.SyncFileRange(int(fd), off, n, 2) // SYNC_FILE_RANGE_WRITE
		})
	}
}
