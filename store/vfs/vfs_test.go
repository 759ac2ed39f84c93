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
