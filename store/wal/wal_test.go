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
	"time"

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

// twoSegments returns a file system holding a closed log of one synced commit of six
// frames, over two segments.
func twoSegments(t *testing.T) *vfs.MemFS {
	fs := vfs.NewMemFS()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	appendTx(t, l, 1, 2, 3, 4, 5, 6)
	if err := l.Sync(6); err != nil {
		t.Fatal(err)
	}
	l.Close()
	return fs
}

// TestMissingSegmentIsAnError: frames the data file lacks are in no segment: Open says so
// rather than starting a log past the hole.
func TestMissingSegmentIsAnError(t *testing.T) {
	fs := twoSegments(t)
	fs.Remove(SegmentName("db", 1))
	if _, _, err := Open(fs, "db", ps, 1, Options{ID: 7, SegmentBytes: smallSeg}); !errors.Is(err, ErrFormat) {
		t.Fatalf("open with the first segment gone: %v", err)
	}
}

// TestUndurableFirstSegmentStartsOver: a crash kept the later segments of a commit in
// flight but not the header of the segment where the log starts, so the segment is there
// and not live. Nothing from it on was acknowledged (a commit returns only once every
// segment up to its last frame is synced, in order): Open starts the log over rather than
// calling the frames before the live segments missing, as it does when the file is gone.
func TestUndurableFirstSegmentStartsOver(t *testing.T) {
	fs := twoSegments(t)
	f, err := fs.OpenFile(SegmentName("db", 1), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, HeaderSize), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l, frames, err := Open(fs, "db", ps, 1, Options{ID: 7, SegmentBytes: smallSeg})
	if err != nil {
		t.Fatalf("open with the first segment's header lost: %v", err)
	}
	defer l.Close()
	if len(frames) != 0 {
		t.Fatalf("recovered %d frames of a commit that was never acknowledged", len(frames))
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

// TestSegmentsMadeAhead: once the segment taking appends is half full, the background
// makes the next one (filled, synced), and the roll into it writes only a header: no
// commit fills a segment. The jobs run here when the test says, in order.
func TestSegmentsMadeAhead(t *testing.T) {
	fs := vfs.NewMemFS()
	var jobs []func()
	l, _ := open(t, fs, 1, Options{SegmentBytes: smallSeg, Background: func(job func()) { jobs = append(jobs, job) }})
	appendTx(t, l, 1) // a quarter of segment 1
	if len(jobs) != 0 {
		t.Fatalf("%d background jobs before the segment is half full", len(jobs))
	}
	appendTx(t, l, 2)
	if len(jobs) != 1 {
		t.Fatalf("%d background jobs once the segment is half full, want 1", len(jobs))
	}
	appendTx(t, l, 3) // no second job while one is pending
	jobs[0]()
	if st := l.Stats(); st.Spares != 1 || st.Prepared != 1 {
		t.Fatalf("after the job: %+v, want one prepared spare", st)
	}
	if n := len(fs.Contents(SegmentName("db", 2))); n != smallSeg {
		t.Fatalf("prepared segment is %d bytes, want %d", n, smallSeg)
	}
	last := appendTx(t, l, 4, 5) // into the prepared segment 2
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Segments != 2 || st.Spares != 0 {
		t.Fatalf("after rolling: %+v", st)
	}
	l.Close()
	_, frames := open(t, fs, 1, Options{SegmentBytes: smallSeg})
	if len(frames) != 5 {
		t.Fatalf("recovered %d frames, want 5", len(frames))
	}
}

// TestRollWaitsForSegmentBelowSpare: a recycled spare named above the segment the
// background is still filling is not taken before it, since live segments must ascend by
// name in the order of their LSNs (recovery reads them so). Without the wait the log
// would roll into the spare, then into the prepared segment below it, and recovery would
// see a break in the chain and drop acknowledged commits.
func TestRollWaitsForSegmentBelowSpare(t *testing.T) {
	mem := vfs.NewMemFS()
	mem.Concurrent = true
	ffs := &vfs.FaultFS{FS: mem, Concurrent: true}
	gate, filling := make(chan struct{}), make(chan struct{}, 1)
	ffs.SetFault(func(op vfs.Op, name string, off int64, p []byte) (int, error) {
		if op == vfs.OpWrite && name == SegmentName("db", 3) && off == 0 && len(p) > HeaderSize {
			select {
			case filling <- struct{}{}:
			default:
			}
			<-gate
		}
		return 0, nil
	})
	var job func()
	l, _ := open(t, ffs, 1, Options{SegmentBytes: smallSeg, Background: func(j func()) { job = j }})
	defer l.Close()
	appendTx(t, l, 1, 2, 3, 4, 5) // segment 1 full, segment 2 made by the commit; a job pending
	if job == nil {
		t.Fatal("no background job")
	}
	go job() // fills segment 3, held at the gate
	<-filling
	last := appendTx(t, l, 6)
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(last); err != nil {
		t.Fatal(err)
	}
	if err := l.Recycle(); err != nil { // segment 1 becomes the spare named 4
		t.Fatal(err)
	}
	done := make(chan uint64)
	go func() {
		lsn, err := l.Append(frames(l.Next(), 7, 8, 9)) // segment 2 is full after 8
		if err != nil {
			t.Error(err)
		}
		done <- lsn
	}()
	select {
	case <-done:
		t.Fatal("the roll took the spare named 4 while segment 3 was still being made")
	case <-time.After(100 * time.Millisecond): // it must still be waiting
	}
	close(gate)
	last = <-done
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2, fr := open(t, mem, 7, Options{SegmentBytes: smallSeg})
	defer l2.Close()
	if len(fr) != 3 || fr[2].LSN != 9 {
		t.Fatalf("recovered %+v, want frames 7 to 9", fr)
	}
}

// TestFailedPreparationLeavesTheLogWritable: the background's failure to make a segment
// (a full disk) is no failure of the log: the commit that needs the segment makes its own.
func TestFailedPreparationLeavesTheLogWritable(t *testing.T) {
	mem := vfs.NewMemFS()
	ffs := &vfs.FaultFS{FS: mem}
	ffs.SetFault(func(op vfs.Op, name string, off int64, p []byte) (int, error) {
		if op == vfs.OpWrite && name == SegmentName("db", 2) && len(p) > HeaderSize {
			return len(p) / 2, vfs.ENOSPC
		}
		return 0, nil
	})
	l, _ := open(t, ffs, 1, Options{SegmentBytes: smallSeg})
	appendTx(t, l, 1, 2)               // half full: the job (run at once) fails on segment 2
	last := appendTx(t, l, 3, 4, 5, 6) // the roll makes segment 3 itself
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	// Segment 3 takes appends, segment 4 was made ahead after the roll.
	if st := l.Stats(); st.Prepared != 1 || st.Segments != 2 || st.Spares != 1 {
		t.Fatalf("%+v", st)
	}
	if ok, _ := mem.Exists(SegmentName("db", 2)); ok {
		t.Fatal("the half-made segment 2 was left")
	}
	l.Close()
}

// TestHalfMadeSegmentBelowTheLog: a file the background began and could not finish nor
// remove, named below segments made after it, becomes a spare named above them at the
// next Open, so that the log never runs through it out of order.
func TestHalfMadeSegmentBelowTheLog(t *testing.T) {
	mem := vfs.NewMemFS()
	ffs := &vfs.FaultFS{FS: mem}
	ffs.SetFault(func(op vfs.Op, name string, off int64, p []byte) (int, error) {
		if name == SegmentName("db", 2) && (op == vfs.OpWrite && len(p) > HeaderSize || op == vfs.OpRemove) {
			return len(p) / 2, vfs.ENOSPC
		}
		return 0, nil
	})
	l, _ := open(t, ffs, 1, Options{SegmentBytes: smallSeg})
	appendTx(t, l, 1, 2)
	last := appendTx(t, l, 3, 4, 5, 6, 7, 8, 9) // segments 3 and 4 made by the roll and ahead
	if err := l.Sync(last); err != nil {
		t.Fatal(err)
	}
	l.Close()
	ffs.SetFault(nil)
	l2, fr := open(t, ffs, 1, Options{SegmentBytes: smallSeg})
	if len(fr) != 9 {
		t.Fatalf("recovered %d frames, want 9", len(fr))
	}
	if ok, _ := mem.Exists(SegmentName("db", 2)); ok {
		t.Fatal("the half-made segment is still named 2, below the log")
	}
	release(t, l2)
	last = appendTx(t, l2, 10, 11, 12, 13, 14, 15, 16, 17, 18)
	l2.Sync(last)
	l2.Close()
	l3, fr := open(t, ffs, 10, Options{SegmentBytes: smallSeg})
	defer l3.Close()
	if len(fr) != 9 || fr[8].LSN != 18 {
		t.Fatalf("recovered %d frames, want 10 to 18", len(fr))
	}
}

func frames(next uint64, pages ...byte) []Frame {
	var fr []Frame
	for i, b := range pages {
		fr = append(fr, Frame{Pgno: uint32(b), LSN: next + uint64(i), Page: page(b)})
	}
	fr[len(fr)-1].Flags = FlagCommit
	return fr
}
