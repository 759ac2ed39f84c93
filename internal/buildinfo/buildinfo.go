// Package buildinfo reports which build of gantry is running, for `gantry version`,
// the admin endpoints and the lab's reports.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version returns the module version ("(devel)" for a local build) and the VCS
// commit, or "unknown" when the build recorded none (go run, -buildvcs=false).
func Version() (version, commit string) {
	version, commit = "(devel)", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version, commit
	}
	if info.Main.Version != "" {
		version = info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			commit = s.Value
		}
	}
	return version, commit
}

// String describes the build on one line: version, commit, Go toolchain and platform.
func String() string {
	version, commit := Version()
	return fmt.Sprintf("gantry %s commit %s %s %s/%s", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
