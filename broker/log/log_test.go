package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// makeBatch builds a record batch of n uncompressed records with values of size bytes,
// timestamps ts, ts+1, ..., as a producer would send it (base offset 0).
func makeBatch(n int, ts int64, size int) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		var r []byte
		r = append(r, 0)                        // attributes
		r = binary.AppendVarint(r, int64(i))    // timestamp delta
		r = binary.AppendVarint(r, int64(i))    // offset delta
		r = binary.AppendVarint(r, -1)          // key: null
		r = binary.AppendVarint(r, int64(size)) // value length
		r = append(r, bytes.Repeat([]byte{byte('a' + i%26)}, size)...)
		r = binary.AppendVarint(r, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(HeaderSize-12+len(recs)))
	b[16] = 2
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts+int64(n)-1))
	be.PutUint64(b[43:], ^uint64(0)) // producer id -1
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func openTest(t *testing.T, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll returns the base offsets of every batch from offset on.
func readAll(t *testing.T, l *Log, offset int64) []int64 {
	t.Helper()
	var bases []int64
	err := l.ForEachBatch(offset, func(b Batch, raw []byte) bool {
		bases = append(bases, b.BaseOffset)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return bases
}

func TestAppendRead(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{})
	for i := 0; i < 10; i++ {
		first, last, err := l.Append(makeBatch(3, 1000, 10))
		if err != nil {
			t.Fatal(err)
		}
		if first != int64(i*3) || last != int64(i*3+2) {
			t.Fatalf("append %d: offsets %d..%d", i, first, last)
		}
	}
	if got := l.EndOffset(); got != 30 {
		t.Fatalf("end offset %d, want 30", got)
	}
	for _, tc := range []struct {
		offset int64
		want   int64 // base of the first batch returned
	}{{0, 0}, {1, 0}, {2, 0}, {3, 3}, {17, 15}, {29, 27}} {
		p, err := l.Read(tc.offset, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseBatch(p)
		if err != nil {
			t.Fatal(err)
		}
		if b.BaseOffset != tc.want || len(p) != b.Size() {
			t.Errorf("Read(%d): base %d (%d bytes), want base %d and one batch", tc.offset, b.BaseOffset, len(p), tc.want)
		}
	}
	if p, err := l.Read(30, 100); err != nil || len(p) != 0 {
		t.Errorf("Read at end: %d bytes, %v", len(p), err)
	}
	if _, err := l.Read(31, 100); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Read past end: %v, want ErrOutOfRange", err)
	}
	p, _ := l.Read(0, 1<<20)
	if bs, err := SplitBatches(p); err != nil || len(bs) != 10 {
		t.Errorf("Read all: %d batches, %v", len(bs), err)
	}
}

func TestAppendRejectsCorrupt(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{})
	good := makeBatch(2, 1, 5)
	cases := map[string][]byte{
		"empty":     {},
		"short":     good[:30],
		"truncated": good[:len(good)-1],
		"bad crc":   append(append([]byte{}, good[:len(good)-1]...), good[len(good)-1]^1),
		"magic 1":   func() []byte { b := append([]byte{}, good...); b[16] = 1; return b }(),
		"trailing":  append(append([]byte{}, good...), 1, 2, 3),
	}
	for name, p := range cases {
		if _, _, err := l.Append(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if l.EndOffset() != 0 || l.Size() != 0 {
		t.Errorf("rejected batches changed the log: end %d size %d", l.EndOffset(), l.Size())
	}
}

func TestRollAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 4096, IndexInterval: 512}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, _, err := l.Append(makeBatch(2, int64(1000+i*10), 100)); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.Segments()
	if segs < 5 {
		t.Fatalf("%d segments, want rolls at 4 KiB", segs)
	}
	want := readAll(t, l, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg)
	if l.Segments() != segs || l.EndOffset() != 200 {
		t.Fatalf("reopened: %d segments end %d", l.Segments(), l.EndOffset())
	}
	if got := readAll(t, l, 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reopened log reads %v, want %v", got, want)
	}
	for off := int64(0); off < 200; off += 7 {
		got := readAll(t, l, off)
		if got[0] != off&^1 {
			t.Fatalf("read from %d starts at %d", off, got[0])
		}
	}
	// Appends go on after the reopened end.
	if first, _, err := l.Append(makeBatch(1, 5000, 10)); err != nil || first != 200 {
		t.Fatalf("append after reopen: %d %v", first, err)
	}
}

// crash closes the files without the orderly Close: indexes of the active segment
// are not written, as after a kill -9.
func crash(l *Log) { l.closeFiles() }

// TestRecoveryTruncatesTornTail damages the tail of the active segment after a crash.
// Small appends leave zeros ahead of the data (Log.makeRoom): recovery keeps them as
// room when nothing else follows the last whole batch, and truncates them with
// whatever follows when something does (a torn batch written into the room, a later
// batch that reached the disk before an earlier one).
func TestRecoveryTruncatesTornTail(t *testing.T) {
	batch := makeBatch(3, 0, 50)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		kept   bool // the tail is room of zeros: kept, without a warning
	}{
		{"cut mid batch", func(t *testing.T, path string, size int64) {
			os.Truncate(path, size-7)
		}, false},
		{"cut mid header", func(t *testing.T, path string, size int64) {
			os.Truncate(path, size-int64(len(makeBatch(3, 0, 50)))+20)
		}, false},
		{"garbled last batch", func(t *testing.T, path string, size int64) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt([]byte("garbage!"), size-30)
			f.Close()
		}, false},
		{"zeros appended", func(t *testing.T, path string, size int64) {
			f, _ := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}, true},
		{"room left as written", func(t *testing.T, path string, size int64) {
			if fi, err := os.Stat(path); err != nil || fi.Size() <= size {
				t.Fatalf("no room written ahead of %d bytes of data: %v %v", size, fi.Size(), err)
			}
		}, true},
		{"torn batch in the room", func(t *testing.T, path string, size int64) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt(batch[:len(batch)/2], size)
			f.Close()
		}, false},
		{"a batch after zeros in the room", func(t *testing.T, path string, size int64) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt(batch, size+4096)
			f.Close()
		}, false},
		{"room cut mid page", func(t *testing.T, path string, size int64) {
			os.Truncate(path, size+1000)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var logs bytes.Buffer
			cfg := Config{SegmentBytes: 1 << 20, Logger: newTestLogger(&logs)}
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				if _, _, err := l.Append(makeBatch(3, int64(i), 50)); err != nil {
					t.Fatal(err)
				}
			}
			size := l.Size()
			crash(l)
			path := segName(dir, 0, ".log")
			tc.damage(t, path, size)

			l = openTest(t, dir, cfg)
			want := int64(60) // the damage lies after the last batch
			if strings.HasPrefix(tc.name, "cut mid") || strings.HasPrefix(tc.name, "garbled") {
				want = 57 // the last batch of 3 is gone
			}
			if l.EndOffset() != want {
				t.Fatalf("end offset %d after recovery, want %d", l.EndOffset(), want)
			}
			if got := readAll(t, l, 0); len(got) != int(want/3) {
				t.Fatalf("%d batches readable", len(got))
			}
			fi, _ := os.Stat(path)
			warned := bytes.Contains(logs.Bytes(), []byte("truncating torn or corrupt tail"))
			switch {
			case tc.kept && (fi.Size() <= l.Size() || warned):
				t.Fatalf("file %d bytes, log %d, warned %v: the room of zeros was not kept quietly", fi.Size(), l.Size(), warned)
			case !tc.kept && fi.Size() != l.Size():
				t.Fatalf("file %d bytes, log %d: tail not truncated", fi.Size(), l.Size())
			case !tc.kept && !warned:
				t.Errorf("no log line about the truncation: %q", logs.String())
			}
			if first, _, err := l.Append(makeBatch(1, 99, 5)); err != nil || first != want {
				t.Fatalf("append after recovery at %d, %v; want %d", first, err, want)
			}
			// The append went over the room: another crash and recovery keep it.
			crash(l)
			l = openTest(t, dir, cfg)
			if got := readAll(t, l, 0); l.EndOffset() != want+1 || len(got) != int(want/3)+1 {
				t.Fatalf("after a second recovery: end %d, %d batches; want end %d", l.EndOffset(), len(got), want+1)
			}
		})
	}
}

func TestIndexRebuiltWhenDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string)
	}{
		{"missing", func(path string) { os.Remove(path) }},
		{"truncated", func(path string) { os.Truncate(path, 5) }},
		{"garbled", func(path string) {
			p, _ := os.ReadFile(path)
			for i := range p {
				p[i] ^= 0x5a
			}
			os.WriteFile(path, p, 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var logs bytes.Buffer
			cfg := Config{SegmentBytes: 8192, IndexInterval: 300, Logger: newTestLogger(&logs)}
			l, _ := Open(dir, cfg)
			for i := 0; i < 60; i++ {
				l.Append(makeBatch(2, int64(i*100), 100))
			}
			want := readAll(t, l, 0)
			l.Close()
			idx := segName(dir, 0, ".index")
			orig, _ := os.ReadFile(idx)
			if len(orig) == 0 {
				t.Fatal("first segment has an empty index: the test needs entries")
			}
			tc.damage(idx)

			l = openTest(t, dir, cfg)
			if got := readAll(t, l, 0); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after rebuild reads %v, want %v", got, want)
			}
			for off := int64(0); off < 120; off += 5 {
				if got := readAll(t, l, off); got[0] != off&^1 {
					t.Fatalf("read from %d starts at %d", off, got[0])
				}
			}
			if rebuilt, _ := os.ReadFile(idx); !bytes.Equal(rebuilt, orig) {
				t.Errorf("rebuilt index differs from the original")
			}
			if !bytes.Contains(logs.Bytes(), []byte("rebuilding index")) {
				t.Errorf("no log line about the rebuild")
			}
		})
	}
}

func TestRetention(t *testing.T) {
	now := time.Now()
	old := now.Add(-48 * time.Hour).UnixMilli()
	t.Run("by age", func(t *testing.T) {
		l := openTest(t, t.TempDir(), Config{SegmentBytes: 1024, RetentionAge: 24 * time.Hour})
		for i := 0; i < 10; i++ {
			l.Append(makeBatch(1, old, 600)) // one batch per segment
		}
		for i := 0; i < 3; i++ {
			l.Append(makeBatch(1, now.UnixMilli(), 600))
		}
		n, err := l.Retain(now)
		if err != nil || n != 10 {
			t.Fatalf("deleted %d segments (%v), want the 10 old ones", n, err)
		}
		if l.StartOffset() != 10 || l.EndOffset() != 13 {
			t.Fatalf("log now %d..%d", l.StartOffset(), l.EndOffset())
		}
		if _, err := l.Read(9, 100); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("read of a deleted offset: %v", err)
		}
		if got := readAll(t, l, 10); len(got) != 3 {
			t.Errorf("kept %v", got)
		}
	})
	t.Run("by size", func(t *testing.T) {
		l := openTest(t, t.TempDir(), Config{SegmentBytes: 1024, RetentionAge: -1, RetentionBytes: 3000})
		for i := 0; i < 10; i++ {
			l.Append(makeBatch(1, old, 600))
		}
		batch := int64(len(makeBatch(1, old, 600)))
		if _, err := l.Retain(now); err != nil {
			t.Fatal(err)
		}
		// Segments go while what remains is still at least 3000 bytes.
		kept := l.EndOffset() - l.StartOffset()
		if kept*batch < 3000 || (kept-1)*batch >= 3000 {
			t.Fatalf("kept %d batches of %d bytes for a 3000-byte limit", kept, batch)
		}
	})
	t.Run("never the active segment", func(t *testing.T) {
		l := openTest(t, t.TempDir(), Config{RetentionAge: time.Hour})
		l.Append(makeBatch(1, old, 10))
		if n, _ := l.Retain(now); n != 0 || l.EndOffset() != 1 {
			t.Fatalf("deleted %d", n)
		}
	})
}

func TestOffsetForTime(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentBytes: 2048, IndexInterval: 200})
	for i := 0; i < 50; i++ {
		l.Append(makeBatch(2, int64(1000+i*10), 100)) // batch i: ts 1000+10i, +1
	}
	for _, tc := range []struct {
		ts   int64
		want int64
		ok   bool
	}{{0, 0, true}, {1000, 0, true}, {1001, 1, true}, {1002, 2, true}, {1250, 50, true}, {1255, 52, true}, {1251, 51, true}, {1491, 99, true}, {1492, 0, false}} {
		off, _, ok, err := l.OffsetForTime(tc.ts)
		if err != nil || ok != tc.ok || (ok && off != tc.want) {
			t.Errorf("OffsetForTime(%d) = %d %v %v, want %d %v", tc.ts, off, ok, err, tc.want, tc.ok)
		}
	}
}

func TestConcurrentAppendAndSync(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentBytes: 64 << 10})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, last, err := l.Append(makeBatch(2, 1, 200))
				if err == nil {
					err = l.SyncTo(last + 1)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Readers run beside the writers.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for l.EndOffset() < 800 {
			l.ForEachBatch(l.StartOffset(), func(Batch, []byte) bool { return true })
		}
	}()
	wg.Wait()
	<-done
	if l.Dirty() {
		t.Error("dirty after every append was synced")
	}
	got := readAll(t, l, 0)
	if len(got) != 400 {
		t.Fatalf("%d batches, want 400", len(got))
	}
	for i, b := range got {
		if b != int64(i*2) {
			t.Fatalf("batch %d at %d", i, b)
		}
	}
}

func TestFlushMessages(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{FlushMessages: 5})
	l.Append(makeBatch(4, 1, 1))
	if !l.Dirty() {
		t.Fatal("4 records below FlushMessages=5 should be unsynced")
	}
	l.Append(makeBatch(1, 1, 1))
	if l.Dirty() {
		t.Fatal("5 records should have been synced")
	}
}

func TestSegmentFilesNamedByBase(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Config{SegmentBytes: 500})
	for i := 0; i < 3; i++ {
		l.Append(makeBatch(2, 1, 300))
	}
	for _, base := range []int64{0, 2, 4} {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%020d.log", base))); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add(makeBatch(1, 0, 0))
	f.Add(makeBatch(3, 12345, 20))
	f.Add(append(makeBatch(2, 1, 3), makeBatch(1, 2, 3)...))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, p []byte) {
		bs, err := SplitBatches(p)
		if err != nil {
			return
		}
		n := 0
		for _, b := range bs {
			if b.Size() < HeaderSize || b.Magic != 2 || b.LastOffsetDelta < 0 {
				t.Fatalf("accepted a bad header %+v", b)
			}
			n += b.Size()
		}
		if n != len(p) {
			t.Fatalf("batches cover %d of %d bytes", n, len(p))
		}
		// What parses must append and read back byte for byte.
		l := openTest(t, t.TempDir(), Config{})
		cp := append([]byte{}, p...)
		if len(bs) == 0 {
			return
		}
		if _, _, err := l.Append(cp); err != nil {
			t.Fatal(err)
		}
		got, err := l.Read(0, len(p))
		if err != nil || !bytes.Equal(got, cp) {
			t.Fatalf("read back %d bytes (%v), wrote %d", len(got), err, len(cp))
		}
	})
}

// TestOnSyncSeesOnlyRealSyncs checks that the sync observer hears of each fsync, and
// not of a Sync that had nothing left to sync.
func TestOnSyncSeesOnlyRealSyncs(t *testing.T) {
	var syncs atomic.Int64
	l := openTest(t, t.TempDir(), Config{OnSync: func(d time.Duration) {
		if d <= 0 {
			t.Errorf("sync took %v", d)
		}
		syncs.Add(1)
	}})
	if _, _, err := l.Append(makeBatch(3, 1, 10)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d syncs observed for one append synced three times, want 1", n)
	}
	l.SetConfig(Config{SegmentBytes: 1}) // the observer stays; the next append rolls
	l.Append(makeBatch(1, 2, 10))
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d syncs observed after a roll, want 2 (the sealed segment's)", n)
	}
}

// TestRollByAge checks that an append to a segment older than SegmentAge starts a new
// one, and that an empty segment is never rolled.
func TestRollByAge(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentAge: time.Hour})
	l.segs[0].created = time.Now().Add(-2 * time.Hour) // empty: kept
	if _, _, err := l.Append(makeBatch(2, 1, 10)); err != nil {
		t.Fatal(err)
	}
	if n := l.Segments(); n != 1 {
		t.Fatalf("%d segments after appending to an old empty one, want 1", n)
	}
	l.Append(makeBatch(2, 1, 10))
	if n := l.Segments(); n != 1 {
		t.Fatalf("%d segments before the age is reached, want 1", n)
	}
	l.mu.Lock()
	l.segs[0].created = time.Now().Add(-2 * time.Hour)
	l.mu.Unlock()
	if _, _, err := l.Append(makeBatch(2, 1, 10)); err != nil {
		t.Fatal(err)
	}
	if n, start := l.Segments(), l.ActiveStart(); n != 2 || start != 4 {
		t.Fatalf("after the age: %d segments, active from %d; want 2 from 4", n, start)
	}
}

// TestRollByAgeAcrossRestart checks that a reopened segment's age counts from its
// first batch's timestamp, not from the restart.
func TestRollByAgeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, Config{SegmentAge: time.Hour})
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	l.Append(makeBatch(2, old, 10))
	l.Close()
	l = openTest(t, dir, Config{SegmentAge: time.Hour})
	l.Append(makeBatch(2, time.Now().UnixMilli(), 10))
	if n := l.Segments(); n != 2 {
		t.Fatalf("%d segments: the reopened segment, two hours old by its records, did not roll", n)
	}
}
