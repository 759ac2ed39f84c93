package cache

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gantry/internal/testenv"
)

// everysecBound is how soon after a write is acknowledged with appendfsync everysec
// the append-only file must be fsynced: the once-a-second tick, and half a second
// for a loaded machine's late tick and a slow fsync.
const everysecBound = 1500 * time.Millisecond

// With appendfsync everysec the append-only file is fsynced within about a second
// of a write being acknowledged; with appendfsync no it is not fsynced at all. The
// server runs in a child process (this test binary again, as TestAOFFsyncChild)
// under strace, which records each fsync of appendonly.aof with its time: what the
// kernel was asked, not what the server says it did.
func TestAOFEverysecFsyncs(t *testing.T) {
	strace := testenv.LookPath(t, "strace")
	if out, err := exec.Command(strace, "-f", "-e", "trace=fsync", "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here (ptrace refused?): %v: %s", err, out)
	}
	for _, mode := range []string{"everysec", "no"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			trace := filepath.Join(dir, "strace.out")
			addr, stop := startFsyncChild(t, strace, trace, dir, mode)
			defer stop()
			r := dialRaw(t, addr)
			if got := r.do("SET", "k", "v"); got != "+OK\r\n" {
				t.Fatalf("SET = %q", got)
			}
			acked := time.Now()
			// The reply follows the write to the kernel: the file holds the record.
			if fi, err := os.Stat(filepath.Join(dir, "appendonly.aof")); err != nil || fi.Size() == 0 {
				t.Fatalf("appendonly.aof after an acknowledged SET: %v, %v", fi, err)
			}
			var first time.Time
			deadline := acked.Add(everysecBound)
			for time.Now().Before(deadline) && first.IsZero() {
				time.Sleep(20 * time.Millisecond)
				first = firstFsyncAfter(t, trace, acked)
			}
			if first.IsZero() {
				// One last look: the trace may lag the call.
				time.Sleep(50 * time.Millisecond)
				first = firstFsyncAfter(t, trace, acked)
			}
			switch {
			case mode == "everysec" && (first.IsZero() || first.Sub(acked) > everysecBound):
				t.Fatalf("appendfsync everysec: no fsync of appendonly.aof within %v of an acknowledged write (first after it: %v)", everysecBound, first)
			case mode == "no" && !first.IsZero() && first.Sub(acked) <= everysecBound:
				t.Fatalf("appendfsync no: appendonly.aof fsynced %v after a write", first.Sub(acked))
			case mode == "everysec":
				t.Logf("appendonly.aof fsynced %v after the write was acknowledged", first.Sub(acked))
			}
		})
	}
}

// startFsyncChild runs TestAOFFsyncChild under strace, which writes each fsync to
// trace, and returns the child's address and a function that kills it.
func startFsyncChild(t *testing.T, strace, trace, dir, mode string) (addr string, stop func()) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	pidFile := filepath.Join(dir, "child.pid")
	cmd := exec.Command(strace, "-f", "--seccomp-bpf", "-qq", "-ttt", "-y", "-e", "trace=fsync,fdatasync", "-o", trace,
		exe, "-test.run=^TestAOFFsyncChild$")
	cmd.Env = append(os.Environ(), "GANTRY_FSYNC_CHILD="+dir, "GANTRY_FSYNC_ADDR="+addr, "GANTRY_FSYNC_MODE="+mode)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		// Kill the traced child by its id (strace then exits); strace itself
		// if the child never wrote it.
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		} else {
			cmd.Process.Kill()
		}
		cmd.Wait()
	}
	waitFor(t, "the traced child server", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("PING\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line == "+PONG\r\n"
	})
	return addr, stop
}

// firstFsyncAfter returns the time of the first fsync or fdatasync of
// appendonly.aof that strace recorded at or after since, or zero.
func firstFsyncAfter(t *testing.T, trace string, since time.Time) time.Time {
	f, err := os.Open(trace)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "PID SECONDS.MICROS fsync(7</dir/appendonly.aof>) = 0" (or "<unfinished ...>")
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !strings.Contains(fields[2], "appendonly.aof") ||
			!(strings.HasPrefix(fields[2], "fsync(") || strings.HasPrefix(fields[2], "fdatasync(")) {
			continue
		}
		sec, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			t.Fatalf("strace line %q: %v", sc.Text(), err)
		}
		at := time.UnixMicro(int64(sec * 1e6))
		if !at.Before(since) {
			return at
		}
	}
	return time.Time{}
}

// TestAOFFsyncChild is the server TestAOFEverysecFsyncs traces; it does nothing in a
// normal run.
func TestAOFFsyncChild(t *testing.T) {
	dir := os.Getenv("GANTRY_FSYNC_CHILD")
	if dir == "" {
		t.Skip("run by TestAOFEverysecFsyncs")
	}
	if err := os.WriteFile(filepath.Join(dir, "child.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	serveAOFUntilKilled(t, dir, os.Getenv("GANTRY_FSYNC_MODE"), os.Getenv("GANTRY_FSYNC_ADDR"))
}
