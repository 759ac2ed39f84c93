package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"gantry/store/vfs"
)

const ps = 1024

// smallSeg holds 4 frames of ps bytes: transactions of a few pages span segments.
const smallSeg = HeaderSize + 4*(FrameHeader+ps)

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

func open(t *testing.T, fs vfs.FS, from uint64, o Options) (*Log, []Frame) {
	t.Helper()
	if o.ID == 0 {
		o.ID = 7
	}
	l, frames, err := Open(fs, "db", ps, from, o)
	if err != nil {
		t.Fatal(err)
	}
	return l, frames
}

// release plays the engine's part after recovery: the frames are in the data file.
func release(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Release(l.Next() - 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Recycle(); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryKeepsCommittedFrames(t *testing.T) {
	fs := vfs.NewMemFS()
	l, frames := open(t, fs, 10, Options{})
	if len(frames) != 0 {
		t.Fatalf("new log: %d frames", len(frames))
	}
	appendTx(t, l, 1, 2)
	last := appendTx(t, l, 3)
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	// An uncommitted tail: frames without a commit flag.
	l.Append([]Frame{{Pgno: 4, LSN: l.Next(), Page: page(4)}})
	l.Close()

	l, frames = open(t, fs, 10, Options{})
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
	if _, err := l.Append([]Frame{{Pgno: 1, Flags: FlagCommit, LSN: 13, Page: page(1)}}); err == nil {
		t.Fatal("appended before the recovered frames were released")
	}
	// The data file's meta page may be ahead of the rest of it (a checkpoint that crashed
	// before its sync): it does not cut the replay, which starts where the log's headers
	// say the last completed checkpoint ended.
	l.Close()
	_, frames = open(t, fs, 12, Options{})
	if len(frames) != 3 || frames[0].LSN != 10 {
		t.Fatalf("from 12: recovered %+v", frames)
	}
}

func TestCrashCutsTornTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 40 {
		fs := vfs.NewMemFS()
		l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg})
		durable := appendTx(t, l, 1)
		if err := l.Sync(durable); err != nil {
			t.Fatal(err)
		}
		appendTx(t, l, 2, 3)
		appendTx(t, l, 4, 5, 6, 7, 8) // spans into a second segment
		fs.Crash(rng)
		_, frames, err := Open(fs, "db", ps, 1, Options{ID: 7, SegmentBytes: smallSeg})
		if err != nil {
			t.Fatal(err)
		}
		// Whole transactions only: 1, 1+2+3, or 1+2+3+4+...+8.
		if n := len(frames); n != 1 && n != 3 && n != 8 {
			t.Fatalf("recovered %d frames: a transaction was cut in half", n)
		}
	}
}

// TestTransactionSpansSegments: a transaction larger than a segment goes into several,
// each pre-filled to its full size; recovery reads them in order.
func TestTransactionSpansSegments(t *testing.T) {
	fs := vfs.NewMemFS()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	appendTx(t, l, 1, 2)
	pages := make([]byte, 11)
	for i := range pages {
		pages[i] = byte(10 + i)
	}
	last := appendTx(t, l, pages...)
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Segments != 4 || st.Frames != 13 {
		t.Fatalf("stats %+v: want 13 frames in 4 segments", st)
	}
	for seq := uint64(1); seq <= 4; seq++ {
		if n := len(fs.Contents(SegmentName("db", seq))); n != smallSeg {
			t.Fatalf("segment %d is %d bytes, want %d: not pre-filled", seq, n, smallSeg)
		}
	}
	l.Close()
	l, frames := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	if len(frames) != 13 || frames[12].LSN != 13 || frames[12].Pgno != 20 {
		t.Fatalf("recovered %d frames, last %+v", len(frames), frames[len(frames)-1])
	}
	got := make([]byte, ps)
	if err := l.ReadFrame(9, 16, got); err != nil || !bytes.Equal(got, page(16)) {
		t.Fatalf("ReadFrame in the third segment: %v", err)
	}
}

// TestRecycledSegmentsAreReused: after a release, the segments wholly before it become
// spares under new names, are reused (no new file, no change of size) and their old
// frames, under the old salt, are never read as new ones.
func TestRecycledSegmentsAreReused(t *testing.T) {
	fs := vfs.NewMemFS()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg, Spares: 2})
	for i := range 10 {
		appendTx(t, l, byte(i), byte(i+1)) // 20 frames: 5 segments
	}
	if err := l.Sync(l.Next() - 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(l.Next() - 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Recycle(); err != nil {
		t.Fatal(err)
	}
	// 4 full segments went: 2 kept as spares (renamed 6 and 7), 2 removed; 5 takes appends.
	st := l.Stats()
	if st.Segments != 1 || st.Spares != 2 || st.Frames != 0 {
		t.Fatalf("after recycling: %+v", st)
	}
	names, _ := fs.List("db.")
	want := []string{SegmentName("db", 5), SegmentName("db", 6), SegmentName("db", 7)}
	if len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("files %v, want %v", names, want)
	}
	last := appendTx(t, l, 50, 51, 52) // 21..23: segment 5 is full, so into spare 6
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Spares != 1 || st.Segments != 2 {
		t.Fatalf("after rolling: %+v, want the spare reused", st)
	}
	if n := len(fs.Contents(SegmentName("db", 6))); n != smallSeg {
		t.Fatalf("reused segment is %d bytes", n)
	}
	l.Close()
	_, frames := open(t, fs, 21, Options{SegmentBytes: smallSeg, Spares: 2})
	if len(frames) != 3 || frames[2].LSN != 23 {
		t.Fatalf("recovered %+v", frames)
	}
}

// TestStaleFramesOfARecycledSegment: a spare that still holds whole frames of its earlier
// life, at the very positions new ones would take, yields none of them.
func TestStaleFramesOfARecycledSegment(t *testing.T) {
	fs := vfs.NewMemFS()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg, Spares: 4})
	for i := range 4 {
		appendTx(t, l, byte(i), byte(i))
	}
	l.Sync(l.Next() - 1)
	l.Release(l.Next() - 1)
	if err := l.Recycle(); err != nil {
		t.Fatal(err)
	}
	// Segment 1 (frames 1..4) is now the spare named 3, its header and frames unchanged:
	// reopening does not take it for part of the log, and once reused as frames 9..12 its
	// old frames (of other LSNs and salt) end the recovered log after the new one.
	l.Close()
	l, frames := open(t, fs, 9, Options{SegmentBytes: smallSeg, Spares: 4})
	if len(frames) != 0 || l.Next() != 9 {
		t.Fatalf("recovered %d frames, next %d: stale frames of spares were taken", len(frames), l.Next())
	}
	appendTx(t, l, 9)
	l.Close()
	_, frames = open(t, fs, 9, Options{SegmentBytes: smallSeg, Spares: 4})
	if len(frames) != 1 {
		t.Fatalf("recovered %d frames after one commit", len(frames))
	}
}

// TestResealHidesTornTail: after recovery cut a torn tail, a new commit shorter than it
// must not let the tail's later frames (whole, CRC'd, under the same salt) follow it.
func TestResealHidesTornTail(t *testing.T) {
	fs := vfs.NewMemFS()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	lsn := appendTx(t, l, 1)
	l.Sync(lsn)
	seg := l.segs[0]
	// Transactions 2 (frames 2, 3) and 3 (frame 4, commit) written; frame 2 never reached
	// the disk: recovery stops at 2.
	appendTx(t, l, 2, 3)
	appendTx(t, l, 4)
	l.Sync(4)
	seg.f.WriteAt(make([]byte, FrameHeader+ps), l.offset(seg, 2))
	seg.f.Sync()
	l.Close()
	l, frames := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	if len(frames) != 1 {
		t.Fatalf("recovered %d frames, want 1", len(frames))
	}
	release(t, l)
	lsn = appendTx(t, l, 9, 9) // frames 2 and 3, not a commit of 3 frames
	l.Sync(lsn)
	l.Close()
	_, frames = open(t, fs, 2, Options{SegmentBytes: smallSeg}) // the data file holds 1
	if len(frames) != 2 || frames[1].LSN != 3 {
		t.Fatalf("recovered %+v: the old tail's frame 4 followed the new commit", frames)
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	l, _, err := Open(vfs.OS{}, filepath.Join(t.TempDir(), "db"), ps, 1, Options{ID: 7, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
	if st.Frames != writers*each || st.Segments < 4 {
		t.Fatalf("%+v: want %d frames in several segments", st, writers*each)
	}
	if st.Syncs >= writers*each {
		t.Fatalf("%d syncs for %d commits: no sharing", st.Syncs, writers*each)
	}
	t.Logf("%d commits, %d fsyncs", writers*each, st.Syncs)
}

func TestSyncErrorIsSticky(t *testing.T) {
	fs := &vfs.FaultFS{FS: vfs.NewMemFS()}
	l, _ := open(t, fs, 1, Options{})
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
	f, _ := fs.OpenFile(SegmentName("db", 1), true)
	f.WriteAt([]byte("this is not a write-ahead log at all"), 0)
	if _, _, err := Open(fs, "db", ps, 1, Options{ID: 7}); !errors.Is(err, ErrFormat) {
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
	l, _ := open(t, fs, 1, Options{})
	appendTx(t, l, 1)
	l.Sync(1)
	l.Close()
	if _, _, err := Open(fs, "db", ps, 1, Options{ID: 8}); !errors.Is(err, ErrFormat) {
		t.Fatalf("log of database 7 opened as database 8's: %v", err)
	}
	l, frames, err := Open(fs, "db", ps, 0, Options{})
	if err != nil || len(frames) != 1 || l.ID() != 7 {
		t.Fatalf("id 0 accepts any log: %v, %d frames, id %d", err, len(frames), l.ID())
	}
}

// TestMissingSegmentIsAnError: frames the data file lacks are in no segment: Open says so
// rather than starting a log past the hole.
func TestMissingSegmentIsAnError(t *testing.T) {
	fs := vfs.NewMemFS()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	appendTx(t, l, 1, 2, 3, 4, 5, 6)
	l.Sync(6)
	l.Close()
	fs.Remove(SegmentName("db", 1))
	if _, _, err := Open(fs, "db", ps, 1, Options{ID: 7, SegmentBytes: smallSeg}); !errors.Is(err, ErrFormat) {
		t.Fatalf("open with the first segment gone: %v", err)
	}
}

func legacyLog(pageSize int, salt uint32, base uint64, frames int) []byte {
	h := make([]byte, legacyHeader)
	copy(h, legacyMagic)
	binary.LittleEndian.PutUint32(h[8:], 1)
	binary.LittleEndian.PutUint32(h[12:], uint32(pageSize))
	binary.LittleEndian.PutUint32(h[16:], salt)
	binary.LittleEndian.PutUint64(h[20:], base)
	binary.LittleEndian.PutUint64(h[28:], 7)
	binary.LittleEndian.PutUint32(h[36:], crc32.Checksum(h[:36], castagnoli))
	for i := range frames {
		fr := make([]byte, FrameHeader+pageSize)
		EncodeFrame(fr, Frame{Pgno: 1, Flags: FlagCommit, LSN: base + uint64(i), Page: page(1)}, salt)
		h = append(h, fr...)
	}
	return h
}

func TestLegacy(t *testing.T) {
	for _, tc := range []struct {
		name           string
		file           []byte
		exists, needed bool
	}{
		{"absent", nil, false, false},
		{"clean close: header only", legacyLog(ps, 3, 5, 0), true, false},
		{"frames: a crash, maybe in a checkpoint", legacyLog(ps, 3, 5, 2), true, true},
		{"damaged header", append([]byte("GNTWAL01"), make([]byte, 100)...), true, false},
		{"empty file", []byte{}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMemFS()
			if tc.file != nil {
				f, _ := fs.OpenFile("db-wal", true)
				f.WriteAt(tc.file, 0)
			}
			exists, needed, err := Legacy(fs, "db-wal", ps)
			if err != nil || exists != tc.exists || needed != tc.needed {
				t.Fatalf("Legacy = %v, %v, %v; want %v, %v", exists, needed, err, tc.exists, tc.needed)
			}
		})
	}
}
