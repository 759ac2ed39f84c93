// Package testenv lets tests find the real peers they talk to (redis-server, kcat, nginx)
// and decide what to do when one is missing.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// LookPath returns the path of the program name. When it is not installed the test is
// skipped on a developer's machine, but fails under CI (CI is set), where .ci/run
// installs every peer the tests need: a missing peer there is a broken set-up, not a
// reason to pass.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI must install it (see .ci/run): %v", name, err)
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}
