//go:build !linux

package log

import "os"

// datasync makes f's data durable; without fdatasync, that is fsync.
func datasync(f *os.File) error { return f.Sync() }

// startWriteback does nothing where sync_file_range does not exist.
func startWriteback(*os.File, int64, int64) {}
