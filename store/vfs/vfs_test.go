package vfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

func TestMemFSCrashKeepsSynced(t *testing.T) {
	fs := NewMemFS()
	f, err := fs.OpenFile("a", true)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("durable"), 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte("x"), 4096), 7)
	fs.Crash(rand.New(rand.NewPCG(1, 2)))
	if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("handle from before the crash still works")
	}
	got := fs.Contents("a")
	if !bytes.HasPrefix(got, []byte("durable")) {
		t.Fatalf("synced bytes lost: %q", got[:min(len(got), 16)])
	}
	if len(got) != 7 && (len(got)-7)%512 != 0 && len(got) != 7+4096 {
		t.Fatalf("unsynced write kept %d bytes, not a sector multiple", len(got)-7)
	}
}

func TestMemFSCrashTearsSomeWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	lengths := map[int]bool{}
	for range 50 {
		fs := NewMemFS()
		f, _ := fs.OpenFile("a", true)
		f.WriteAt(bytes.Repeat([]byte("y"), 4096), 0)
		fs.Crash(rng)
		lengths[len(fs.Contents("a"))] = true
	}
	if !lengths[0] || !lengths[4096] || len(lengths) < 3 {
		t.Fatalf("crash outcomes %v: want lost, whole and torn writes", lengths)
	}
}

func TestLockIsExclusive(t *testing.T) {
	for name, fs := range map[string]FS{"mem": NewMemFS(), "os": OS{}} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			a, err := fs.OpenFile(path, true)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Lock(); err != nil {
				t.Fatal(err)
			}
			b, err := fs.OpenFile(path, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Lock(); !errors.Is(err, ErrLocked) {
				t.Fatalf("second lock: %v, want ErrLocked", err)
			}
			b.Close()
			a.Close()
			c, _ := fs.OpenFile(path, false)
			defer c.Close()
			if err := c.Lock(); err != nil {
				t.Fatalf("lock after close: %v", err)
			}
		})
	}
}

func TestFaultFS(t *testing.T) {
	mem := NewMemFS()
	fs := &FaultFS{FS: mem}
	f, _ := fs.OpenFile("a", true)
	fs.SetFault(func(op Op, name string, off int64, p []byte) (int, error) {
		if op == OpWrite {
			return 3, ENOSPC
		}
		return 0, ErrInjected
	})
	if n, err := f.WriteAt([]byte("abcdef"), 0); n != 3 || !errors.Is(err, ENOSPC) {
		t.Fatalf("write = %d, %v; want 3, ENOSPC", n, err)
	}
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("sync = %v", err)
	}
	if got := mem.Contents("a"); string(got) != "abc" {
		t.Fatalf("torn write left %q", got)
	}
	fs.SetFault(nil)
	if _, err := f.WriteAt([]byte("xyz"), 3); err != nil {
		t.Fatal(err)
	}
	if got := mem.Contents("a"); string(got) != "abcxyz" {
		t.Fatalf("got %q", got)
	}
}

// TestMemFSCrashKeepsAPrefixOfRenames: renames and removals not yet synced survive a
// crash as a prefix of them, in order; SyncDir makes them durable.
func TestMemFSCrashKeepsAPrefixOfRenames(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	outcomes := map[string]bool{}
	for range 60 {
		fs := NewMemFS()
		for _, n := range []string{"a", "b", "c"} {
			f, _ := fs.OpenFile(n, true)
			f.WriteAt([]byte(n), 0)
			f.Sync()
			f.Close()
		}
		fs.Rename("a", "x")
		fs.Remove("b")
		fs.Rename("c", "y")
		fs.Crash(rng)
		names, _ := fs.List("")
		got := ""
		for _, n := range names {
			got += n + "=" + string(fs.Contents(n)) + " "
		}
		switch got {
		case "a=a b=b c=c ", "b=b c=c x=a ", "c=c x=a ", "x=a y=c ":
			outcomes[got] = true
		default:
			t.Fatalf("after a crash: %q is no prefix of the renames", got)
		}
	}
	if len(outcomes) != 4 {
		t.Fatalf("outcomes %v: want every prefix", outcomes)
	}
	fs := NewMemFS()
	f, _ := fs.OpenFile("a", true)
	f.Close()
	fs.Rename("a", "b")
	if err := fs.SyncDir("b"); err != nil {
		t.Fatal(err)
	}
	fs.Crash(rng)
	if ok, _ := fs.Exists("b"); !ok {
		t.Fatal("a synced rename was lost")
	}
}

func TestOSRenameListSyncDir(t *testing.T) {
	dir := t.TempDir()
	var fs OS
	for _, n := range []string{"db.1-wal", "db.2-wal", "other"} {
		f, err := fs.OpenFile(filepath.Join(dir, n), true)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := fs.Rename(filepath.Join(dir, "db.1-wal"), filepath.Join(dir, "db.3-wal")); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove(filepath.Join(dir, "db.2-wal")); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir(filepath.Join(dir, "db.3-wal")); err != nil {
		t.Fatal(err)
	}
	names, err := fs.List(filepath.Join(dir, "db."))
	if err != nil || len(names) != 1 || names[0] != filepath.Join(dir, "db.3-wal") {
		t.Fatalf("List = %v, %v", names, err)
	}
}
