package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"gantry/store/vfs"
)

const ps = 1024

func page(b byte) []byte { return bytes.Repeat([]byte{b}, ps) }

func appendTx(t *testing.T, l *Log, pages ...byte) uint64 {
	t.Helper()
	next := l.Next()
	var frames []Frame
	for i, b := range pages {
		frames = append(frames, Frame{Pgno: uint32(b), LSN: next + uint64(i), Page: page(b)})
	}
	frames[len(frames)-1].Flags = FlagCommit
	lsn, err := l.Append(frames)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

func TestRecoveryKeepsCommittedFrames(t *testing.T) {
	fs := vfs.NewMemFS()
	f, _ := fs.OpenFile("wal", true)
	l, frames, err := Open(f, ps, 10, 7)
	if err != nil || len(frames) != 0 {
		t.Fatalf("new log: %v, %d frames", err, len(frames))
	}
	appendTx(t, l, 1, 2)
	last := appendTx(t, l, 3)
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	// An uncommitted tail: frames without a commit flag.
	l.Append([]Frame{{Pgno: 4, LSN: l.Next(), Page: page(4)}})
	f.Close()

	f, _ = fs.OpenFile("wal", false)
	l, frames, err = Open(f, ps, 99, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 || frames[0].LSN != 10 || frames[2].Pgno != 3 || frames[2].Flags != FlagCommit {
		t.Fatalf("recovered %+v", frames)
	}
	got := make([]byte, ps)
	if err := l.ReadFrame(11, 2, got); err != nil || !bytes.Equal(got, page(2)) {
		t.Fatalf("ReadFrame: %v", err)
	}
	if l.Next() != 13 {
		t.Fatalf("next LSN %d after recovery, want 13", l.Next())
	}
}

func TestCrashCutsTornTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 40 {
		fs := vfs.NewMemFS()
		f, _ := fs.OpenFile("wal", true)
		l, _, _ := Open(f, ps, 1, 7)
		durable := appendTx(t, l, 1)
		if err := l.Sync(durable); err != nil {
			t.Fatal(err)
		}
		appendTx(t, l, 2, 3)
		appendTx(t, l, 4)
		fs.Crash(rng)
		f, _ = fs.OpenFile("wal", false)
		_, frames, err := Open(f, ps, 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		// Whole transactions only: 1, 1+2+3, or 1+2+3+4.
		if n := len(frames); n != 1 && n != 3 && n != 4 {
			t.Fatalf("recovered %d frames: a transaction was cut in half", n)
		}
	}
}

func TestResetHidesOldFrames(t *testing.T) {
	fs := vfs.NewMemFS()
	f, _ := fs.OpenFile("wal", true)
	l, _, _ := Open(f, ps, 1, 7)
	appendTx(t, l, 1, 2, 3)
	l.Sync(3)
	if err := l.Reset(4); err != nil {
		t.Fatal(err)
	}
	if err := l.Shrink(); err != nil {
		t.Fatal(err)
	}
	if n := len(fs.Contents("wal")); n != HeaderSize {
		t.Fatalf("after Shrink the log file is %d bytes", n)
	}
	f.Close()
	f, _ = fs.OpenFile("wal", false)
	l, frames, err := Open(f, ps, 1, 7)
	if err != nil || len(frames) != 0 || l.Next() != 4 {
		t.Fatalf("after reset: %v, %d frames, next %d", err, len(frames), l.Next())
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	f, err := vfs.OS{}.OpenFile(t.TempDir()+"/wal", true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, _, _ := Open(f, ps, 1, 7)
	var mu sync.Mutex // the engine's committer lock: one Append at a time
	var wg sync.WaitGroup
	const writers, each = 8, 25
	for range writers {
		wg.Go(func() {
			for range each {
				mu.Lock()
				next := l.Next()
				lsn, err := l.Append([]Frame{{Pgno: 1, Flags: FlagCommit, LSN: next, Page: page(1)}})
				mu.Unlock()
				if err == nil {
					err = l.Sync(lsn)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	if st.Frames != writers*each {
		t.Fatalf("%d frames", st.Frames)
	}
	if st.Syncs >= writers*each {
		t.Fatalf("%d syncs for %d commits: no sharing", st.Syncs, writers*each)
	}
	t.Logf("%d commits, %d fsyncs", writers*each, st.Syncs)
}

func TestSyncErrorIsSticky(t *testing.T) {
	fs := &vfs.FaultFS{FS: vfs.NewMemFS()}
	f, _ := fs.OpenFile("wal", true)
	l, _, _ := Open(f, ps, 1, 7)
	fs.SetFault(func(op vfs.Op, _ string, _ int64, _ []byte) (int, error) {
		if op == vfs.OpSync {
			return 0, vfs.ErrInjected
		}
		return 0, nil
	})
	lsn := appendTx(t, l, 1)
	if err := l.Sync(lsn); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("sync: %v", err)
	}
	fs.SetFault(nil)
	if err := l.Sync(lsn); err == nil {
		t.Fatal("a log whose fsync failed synced again")
	}
	if _, err := l.Append([]Frame{{Pgno: 1, LSN: l.Next(), Page: page(1)}}); err == nil {
		t.Fatal("a failed log took more frames")
	}
}

func TestForeignFile(t *testing.T) {
	fs := vfs.NewMemFS()
	f, _ := fs.OpenFile("wal", true)
	f.WriteAt([]byte("this is not a write-ahead log at all"), 0)
	if _, _, err := Open(f, ps, 1, 7); !errors.Is(err, ErrFormat) {
		t.Fatalf("foreign file: %v", err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	b := make([]byte, FrameHeader+64)
	EncodeFrame(b, Frame{Pgno: 3, Flags: FlagCommit, LSN: 7, Page: bytes.Repeat([]byte("p"), 64)}, 9)
	f.Add(b, uint32(9), uint64(7))
	f.Add([]byte{1, 2, 3}, uint32(0), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, salt uint32, lsn uint64) {
		fr, ok := DecodeFrame(b, salt, lsn)
		if !ok {
			return
		}
		out := make([]byte, len(b))
		EncodeFrame(out, fr, salt)
		if !bytes.Equal(out, b) {
			t.Fatalf("frame does not re-encode to itself")
		}
	})
}

func TestLogOfAnotherDatabaseIsRefused(t *testing.T) {
	fs := vfs.NewMemFS()
	f, _ := fs.OpenFile("wal", true)
	l, _, _ := Open(f, ps, 1, 7)
	appendTx(t, l, 1)
	l.Sync(1)
	f.Close()
	f, _ = fs.OpenFile("wal", false)
	if _, _, err := Open(f, ps, 1, 8); !errors.Is(err, ErrFormat) {
		t.Fatalf("log of database 7 opened as database 8's: %v", err)
	}
	l, frames, err := Open(f, ps, 1, 0)
	if err != nil || len(frames) != 1 || l.ID() != 7 {
		t.Fatalf("id 0 accepts any log: %v, %d frames, id %d", err, len(frames), l.ID())
	}
}
