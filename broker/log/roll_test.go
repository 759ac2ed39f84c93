package log

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdSyncs makes l's fsyncs of files named like name wait until release is closed,
// and tells entered when one starts.
func holdSyncs(l *Log, name string) (entered <-chan string, release func()) {
	ent := make(chan string, 16)
	rel := make(chan struct{})
	l.syncFile = func(f *os.File) error {
		if filepath.Base(f.Name()) == name {
			ent <- f.Name()
			<-rel
		}
		return f.Sync()
	}
	var once sync.Once
	return ent, func() { once.Do(func() { close(rel) }) }
}

// TestFetchAndProduceGoOnDuringRollSync holds the fsync of the segment sealed by a
// roll, and checks that reads and appends of the same log are answered meanwhile,
// that a Sync (what an acks=all produce waits for) waits for the held fsync, and that
// it returns once the fsync does.
func TestFetchAndProduceGoOnDuringRollSync(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentBytes: 1000})
	if _, _, err := l.Append(makeBatch(2, 1000, 300)); err != nil {
		t.Fatal(err)
	}
	entered, release := holdSyncs(l, "00000000000000000000.log")
	defer release()
	rolled := make(chan error, 1)
	go func() { _, _, err := l.Append(makeBatch(2, 2000, 300)); rolled <- err }()
	deadline := time.After(10 * time.Second)
	select {
	case <-entered:
	case <-deadline:
		t.Fatal("the roll's fsync never started")
	}

	done := make(chan error, 1)
	go func() {
		p, err := l.Read(0, 1<<20)
		if err == nil && len(p) == 0 {
			err = errors.New("read nothing")
		}
		if err == nil {
			_, _, err = l.Append(makeBatch(1, 3000, 10))
		}
		if err == nil {
			_, err = l.Read(2, 1<<20)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-deadline:
		t.Fatal("read and append waited for the fsync of the rolled segment")
	}

	synced := make(chan error, 1)
	go func() { synced <- l.Sync() }()
	select {
	case err := <-synced:
		t.Fatalf("Sync returned (%v) while the rolled segment's fsync was held", err)
	case <-time.After(50 * time.Millisecond): // a negative check: give it a moment
	}
	release()
	for _, ch := range []chan error{rolled, synced} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("append or Sync did not return after the fsync did")
		}
	}
	if l.Dirty() {
		t.Fatal("log dirty after Sync")
	}
}

// TestFailedRollSyncIsRetriedBySync fails the fsync of a rolled segment and checks
// that retention keeps that segment, that the next Sync fsyncs it (so an acks=all
// answer covers it), and that retention may delete it after that.
func TestFailedRollSyncIsRetriedBySync(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentBytes: 1000, RetentionBytes: 1})
	if _, _, err := l.Append(makeBatch(2, 1000, 300)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var synced []string
	fail := true
	l.syncFile = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		if fail && filepath.Base(f.Name()) == "00000000000000000000.log" {
			fail = false
			return errors.New("injected fsync failure")
		}
		synced = append(synced, filepath.Base(f.Name()))
		return f.Sync()
	}
	if _, _, err := l.Append(makeBatch(2, 2000, 300)); err != nil {
		t.Fatal(err)
	}
	if l.Segments() != 2 {
		t.Fatalf("%d segments, want a roll", l.Segments())
	}
	if n, err := l.Retain(time.Now()); err != nil || n != 0 {
		t.Fatalf("retention deleted %d (%v) segments while the rolled one is unsynced", n, err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]string(nil), synced...)
	mu.Unlock()
	want := []string{"00000000000000000000.log", "00000000000000000002.log"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Sync fsynced %v, want %v", got, want)
	}
	if n, err := l.Retain(time.Now()); err != nil || n != 1 {
		t.Fatalf("retention after Sync deleted %d (%v) segments, want 1", n, err)
	}
}

// TestRecoverTornRolledSegment tears the tail of the segment before the active one
// (as a crash during its roll's fsync could), with its index files left as they
// were, and checks that Open truncates it to whole batches and rebuilds its indexes.
func TestRecoverTornRolledSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 4096, IndexInterval: 256}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if _, _, err := l.Append(makeBatch(2, int64(1000+i*10), 300)); err != nil {
			t.Fatal(err)
		}
	}
	if l.Segments() != 2 {
		t.Fatalf("%d segments, want 2", l.Segments())
	}
	active := l.ActiveStart()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	name := segName(dir, 0, ".log")
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	batch := int64(len(makeBatch(2, 0, 300)))
	if err := os.Truncate(name, fi.Size()-batch/2); err != nil { // half the last batch gone
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg.Logger = newTestLogger(&logs)
	l = openTest(t, dir, cfg)
	bases := readAll(t, l, 0)
	var want []int64
	for off := int64(0); off < active-2; off += 2 {
		want = append(want, off)
	}
	for off := active; off < 24; off += 2 {
		want = append(want, off)
	}
	if len(bases) != len(want) {
		t.Fatalf("after recovery reads %v, want %v", bases, want)
	}
	for i := range want {
		if bases[i] != want[i] {
			t.Fatalf("after recovery reads %v, want %v", bases, want)
		}
	}
	if fi, err := os.Stat(name); err != nil || fi.Size() != (active/2-1)*batch {
		t.Fatalf("rolled segment not truncated to whole batches: %v %v", fi.Size(), err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("truncating torn or corrupt tail of the last rolled segment")) {
		t.Errorf("no log line about the truncation:\n%s", logs.String())
	}
	if first, _, err := l.Append(makeBatch(1, 5000, 10)); err != nil || first != 24 {
		t.Fatalf("append after recovery: %d %v", first, err)
	}
}

// TestCompactionLeavesUnsyncedRolledSegment fails the fsync of a rolled segment and
// checks that compaction does not rewrite it until a Sync has fsynced it.
func TestCompactionLeavesUnsyncedRolledSegment(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentBytes: 200})
	if _, _, err := l.Append(keyedBatch(1000, kv{"k", "old"}, kv{"k", "older"})); err != nil {
		t.Fatal(err)
	}
	fail := true
	l.syncFile = func(f *os.File) error { // only this goroutine syncs until Sync below
		if fail && filepath.Base(f.Name()) == "00000000000000000000.log" {
			fail = false
			return errors.New("injected fsync failure")
		}
		return f.Sync()
	}
	// A batch too big for the segment's room: it rolls, and the fsync fails.
	if _, _, err := l.Append(keyedBatch(2000, kv{"k", "new"}, kv{"x", strings.Repeat("v", 150)})); err != nil {
		t.Fatal(err)
	}
	if l.Segments() != 2 || fail {
		t.Fatalf("%d segments, failed fsync %v: want a roll whose fsync failed", l.Segments(), !fail)
	}
	if n, err := l.Compact(time.Now(), time.Hour); err != nil || n != 0 {
		t.Fatalf("compaction removed %d (%v) records while the rolled segment is unsynced", n, err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Compact(time.Now(), time.Hour); err != nil || n != 2 {
		t.Fatalf("compaction after Sync removed %d (%v) records, want 2", n, err)
	}
}

// TestRoomAheadOfSmallAppends: small appends write zeros ahead of the data, big ones do
// not, and a segment sealed by a roll ends with its last batch (Open takes sealed
// segments' sizes from their files).
func TestRoomAheadOfSmallAppends(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 64 << 10}
	l := openTest(t, dir, cfg)
	for i := 0; i < 100; i++ { // 100 batches of 2 KiB: several rolls
		if _, _, err := l.Append(makeBatch(2, int64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if l.Segments() < 3 {
		t.Fatalf("%d segments, want rolls", l.Segments())
	}
	bases, err := segmentBases(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, base := range bases {
		p, err := os.ReadFile(segName(dir, base, ".log"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = SplitBatches(p)
		if i < len(bases)-1 && err != nil {
			t.Errorf("sealed segment %d: %v (room left after its last batch?)", base, err)
		}
		if i == len(bases)-1 && (err == nil || int64(len(p)) > cfg.SegmentBytes) {
			t.Errorf("active segment %d: %d bytes, err %v; want zeros after the data, within the segment size", base, len(p), err)
		}
	}

	// An append of growMin bytes or more extends the file by itself and no more.
	big := t.TempDir()
	l = openTest(t, big, Config{})
	if _, _, err := l.Append(makeBatch(200, 1, 1000)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(segName(big, 0, ".log")); err != nil || fi.Size() != l.Size() || l.Size() < growMin {
		t.Fatalf("file %d bytes for %d of data (%v): want no room after a big append", fi.Size(), l.Size(), err)
	}
}
