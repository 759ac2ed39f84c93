package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gantry/store/vfs"
	"gantry/store/wal"
)

// Tests of the log's segments as the engine uses them: transactions spanning segments,
// segments recycled by checkpoints, crashes in the middle of either, and the log of the
// format before segments.

// segBytes is the size of a segment of n frames of 1 KiB pages.
func segBytes(n int) int64 { return wal.HeaderSize + int64(n)*(wal.FrameHeader+1024) }

// TestCrashAcrossSegments kills the file layer at a random operation (every later one
// fails, as if the process died), cuts the power and reopens, with segments of a few
// frames so that nearly every commit rolls into a new or recycled segment and every few
// commits a checkpoint recycles them: the acknowledged transactions must all be there and
// the one in flight all or nothing, and Check clean. It counts where the kills landed and,
// in a full run, fails unless some landed in each of a roll's frames and header, a
// recycle's renames and directory sync, and a checkpoint's data-file writes. Directory
// syncs are few among a cycle's operations, so 200 random kills can all miss them (seed
// 524844153821651420): a full run goes on, up to ten times its cycles, until every one
// of those places has had a kill. TestCrashAtEachStep kills at each operation in turn.
func TestCrashAcrossSegments(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	mem := vfs.NewMemFS()
	ffs := &vfs.FaultFS{FS: mem}
	sizes := []int64{segBytes(4), segBytes(7), segBytes(16)}
	opts := func() *Options {
		return &Options{FS: ffs, PageSize: 1024, CacheBytes: 32 << 10, CheckpointBytes: 12 << 10,
			WALSegmentBytes: sizes[rng.IntN(len(sizes))]}
	}
	var m model
	landed := map[string]int{}
	wanted := []string{"frames", "segment header", "rename", "directory sync", "data file"}
	cycles := iterations(60, 200)
	name := ""
	cycle := 0
	for ; cycle < cycles || !testing.Short() && cycle < 10*cycles && len(unhit(landed, wanted)) > 0; cycle++ {
		if cycle%4 == 0 { // a new database now and then: its first segments are new files
			name, m = fmt.Sprintf("s%d.db", cycle), model{}
		}
		db := openHolding(t, cycle, name, opts(), m)
		ops, dieAt := 0, 1+rng.IntN(120)
		ffs.SetFault(func(op vfs.Op, name string, off int64, p []byte) (int, error) {
			if ops++; ops < dieAt {
				return 0, nil
			}
			if ops == dieAt {
				landed[opKind(op, name, off, p)]++
			}
			return rng.IntN(2048), vfs.ErrInjected
		})
		committed, inFlight := commitUntilFault(t, cycle, db, rng, m)
		m = crashAndReopen(t, cycle, mem, ffs, rng, name, opts(), committed, inFlight)
	}
	t.Logf("kills landed in %d cycles: %v", cycle, landed)
	if testing.Short() {
		return
	}
	for _, k := range unhit(landed, wanted) {
		t.Errorf("no kill landed in a %s in %d cycles", k, cycle)
	}
}

// unhit returns the kinds in wanted that no kill has landed in.
func unhit(landed map[string]int, wanted []string) []string {
	var missed []string
	for _, k := range wanted {
		if landed[k] == 0 {
			missed = append(missed, k)
		}
	}
	return missed
}

// TestCrashAtEachStep runs the same script of transactions and checkpoints over and over
// on a new database, killing the file layer at its first operation, then its second, and
// so on to the end: every step of making a new segment (the fill with zeros, its sync, the
// directory sync, the header), of rolling into a spare, of a checkpoint's copy and its
// recycling of segments, is a kill point once. After each kill and power cut the database
// must hold the acknowledged transactions and the one in flight all or nothing.
func TestCrashAtEachStep(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	// Transaction i writes 1+i%3*4 values of 600 bytes: up to 9 leaf pages, more than a
	// segment of 4 frames.
	tx := func(i int) (func(*Tx) error, func(model) model) {
		n := 1 + i%3*4
		val := string(make([]byte, 600))
		fn := func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for k := range n {
				if err := b.Put(fmt.Appendf(nil, "k%02d-%d", k, i%4), []byte(val[:k*40])); err != nil {
					return err
				}
			}
			return nil
		}
		apply := func(m model) model {
			m = m.clone()
			if m["b"] == nil {
				m["b"] = map[string]string{}
			}
			for k := range n {
				m["b"][fmt.Sprintf("k%02d-%d", k, i%4)] = val[:k*40]
			}
			return m
		}
		return fn, apply
	}
	kinds := map[string]int{}
	for k := 1; ; k++ {
		mem := vfs.NewMemFS()
		ffs := &vfs.FaultFS{FS: mem}
		opts := &Options{FS: ffs, PageSize: 1024, CheckpointBytes: 1 << 30, WALSegmentBytes: segBytes(4)}
		db, err := Open("e.db", opts)
		if err != nil {
			t.Fatal(err)
		}
		ops, killed := 0, ""
		ffs.SetFault(func(op vfs.Op, name string, off int64, p []byte) (int, error) {
			if ops++; ops < k {
				return 0, nil
			}
			if ops == k {
				killed = opKind(op, name, off, p)
			}
			return rng.IntN(2048), vfs.ErrInjected
		})
		m, next := model{}, model{}
		for step := range 12 {
			var err error
			if step%4 == 3 {
				err = db.Checkpoint() // recycles the segments before the last
				next = m
			} else {
				fn, apply := tx(step)
				next = apply(m)
				err = db.Update(fn)
			}
			if err != nil {
				break
			}
			m = next
		}
		if killed == "" {
			db.Close()
			t.Logf("%d kill points: %v", k-1, kinds)
			break
		}
		kinds[killed]++
		mem.Crash(rng)
		ffs.SetFault(nil)
		db2, err := Open("e.db", opts)
		if err != nil {
			t.Fatalf("kill at operation %d (%s): open: %v", k, killed, err)
		}
		switch got := contents(t, db2); {
		case equalModels(got, m):
		case equalModels(got, next):
		default:
			t.Fatalf("kill at operation %d (%s): the database is neither before nor after the step in flight", k, killed)
		}
		if rep, err := db2.Check(); err != nil {
			t.Fatalf("kill at operation %d (%s): %v %v", k, killed, err, rep.Problems)
		}
		db2.Close()
	}
	for _, k := range []string{"segment fill", "frames", "segment header", "rename", "directory sync", "data file", "log sync"} {
		if kinds[k] == 0 {
			t.Errorf("no kill point in a %s", k)
		}
	}
}

// opKind names what a file operation is part of, for TestCrashAcrossSegments' tally.
func opKind(op vfs.Op, name string, off int64, p []byte) string {
	switch {
	case op == vfs.OpRename || op == vfs.OpRemove:
		return "rename"
	case op == vfs.OpSyncDir:
		return "directory sync"
	case !strings.HasSuffix(name, "-wal"):
		return "data file"
	case op == vfs.OpWrite && off == 0 && len(p) == wal.HeaderSize:
		return "segment header"
	case op == vfs.OpWrite && off == 0 && allZero(p):
		return "segment fill"
	case op == vfs.OpWrite:
		return "frames"
	}
	return "log sync"
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestSegmentsAreRecycled: under a steady load the log reuses its spare segments instead
// of making new ones (no new file filled with zeros after the first checkpoints), keeps
// no more files than its segments in use plus the bound on spares, and transactions
// larger than a segment commit and read back.
func TestSegmentsAreRecycled(t *testing.T) {
	mem := vfs.NewMemFS()
	ffs := &vfs.FaultFS{FS: mem}
	fills := 0
	ffs.SetFault(func(op vfs.Op, name string, off int64, p []byte) (int, error) {
		if op == vfs.OpWrite && strings.HasSuffix(name, "-wal") && off == 0 && len(p) > wal.HeaderSize && allZero(p) {
			fills++
		}
		return 0, nil
	})
	opts := &Options{FS: ffs, PageSize: 1024, CheckpointBytes: 16 << 10, WALSegmentBytes: segBytes(4)}
	db, err := Open("r.db", opts)
	if err != nil {
		t.Fatal(err)
	}
	spareBound := int(opts.CheckpointBytes/opts.WALSegmentBytes) + 4
	round := func(i int) {
		// Up to 16 values of 200 bytes: some transactions fill more than a segment.
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for k := range 1 + i%16 {
				if err := b.Put(fmt.Appendf(nil, "k%03d-%d", k, i%7), make([]byte, 200)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		round(i)
	}
	warm := fills
	for i := range 300 {
		round(i)
		st := db.Stats()
		names, _ := mem.List("r.db.")
		if len(names) != st.WALSegments+st.WALSpares || st.WALSpares > spareBound {
			t.Fatalf("%d segment files, %d in use and %d spares (bound %d)", len(names), st.WALSegments, st.WALSpares, spareBound)
		}
	}
	st := db.Stats()
	if st.Checkpoints < 10 {
		t.Fatalf("only %d checkpoints", st.Checkpoints)
	}
	t.Logf("%d segments filled with zeros in the first 100 commits, %d in the next 300; %d checkpoints", warm, fills-warm, st.Checkpoints)
	if fills > warm+2 { // a transaction larger than every spare may need a new file, rarely
		t.Fatalf("%d new segments filled after warm-up: spares are not reused", fills-warm)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open("r.db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := get(t, db, "b", "k015-3"); got != string(make([]byte, 200)) {
		t.Fatalf("k015-3 = %q", got)
	}
}

// legacyLog is a log of format version 1 (one file, path + "-wal"): its 40-byte header,
// then frames whole-page frames under salt from LSN base (store/wal/legacy.go).
func legacyLog(pageSize int, id uint64, base uint64, frames [][]byte) []byte {
	h := make([]byte, 40)
	copy(h, "GNTWAL01")
	binary.LittleEndian.PutUint32(h[8:], 1)
	binary.LittleEndian.PutUint32(h[12:], uint32(pageSize))
	binary.LittleEndian.PutUint32(h[16:], 5)
	binary.LittleEndian.PutUint64(h[20:], base)
	binary.LittleEndian.PutUint64(h[28:], id)
	binary.LittleEndian.PutUint32(h[36:], crc32.Checksum(h[:36], crc32.MakeTable(crc32.Castagnoli)))
	for i, p := range frames {
		fr := make([]byte, wal.FrameHeader+pageSize)
		wal.EncodeFrame(fr, wal.Frame{Pgno: 0, Flags: wal.FlagCommit, LSN: base + uint64(i), Page: p}, 5)
		h = append(h, fr...)
	}
	return h
}

// TestLogOfFormatOne: a database closed cleanly by the version before segments left a
// log of only its header: Open removes it and goes on. One that crashed left frames the
// data file lacks: Open refuses it with a message that says what to do.
func TestLogOfFormatOne(t *testing.T) {
	mem := vfs.NewMemFS()
	opts := &Options{FS: mem, PageSize: 1024}
	db, err := Open("o.db", opts)
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, "b", "k", "v")
	lsn := db.latest.lsn
	id := db.latest.meta.ID
	db.Close()
	writeFile := func(name string, b []byte) {
		f, _ := mem.OpenFile(name, true)
		f.Truncate(0)
		f.WriteAt(b, 0)
		f.Sync()
		f.Close()
	}

	writeFile("o.db-wal", legacyLog(1024, id, lsn+1, nil))
	db, err = Open("o.db", opts)
	if err != nil {
		t.Fatalf("open beside a clean version-1 log: %v", err)
	}
	if got := get(t, db, "b", "k"); got != "v" {
		t.Fatalf("k = %q", got)
	}
	db.Close()
	if ok, _ := mem.Exists("o.db-wal"); ok {
		t.Fatal("the empty version-1 log was not removed")
	}

	writeFile("o.db-wal", legacyLog(1024, id, lsn+1, [][]byte{make([]byte, 1024)}))
	_, err = Open("o.db", opts)
	if err == nil || !strings.Contains(err.Error(), "format version 1") {
		t.Fatalf("open beside a version-1 log with commits: %v", err)
	}
}

// TestSegmentsOfAReplacedDatabase: the log of a database whose data file was deleted is
// never replayed into the new one; its segments become spares of the new log (their
// headers, of the old database, are no error then or at later opens).
func TestSegmentsOfAReplacedDatabase(t *testing.T) {
	mem := vfs.NewMemFS()
	opts := &Options{FS: mem, PageSize: 1024, CheckpointBytes: 1 << 30, WALSegmentBytes: segBytes(4)}
	db, err := Open("d.db", opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		put(t, db, "old", fmt.Sprint(i), "x")
	}
	// Copy the segments aside while they hold frames, as a crash would leave them.
	names, _ := mem.List("d.db.")
	saved := map[string][]byte{}
	for _, n := range names {
		saved[n] = mem.Contents(n)
	}
	db.Close()
	for _, n := range names {
		f, _ := mem.OpenFile(n, true)
		f.WriteAt(saved[n], 0)
		f.Sync()
		f.Close()
	}
	if err := mem.Remove("d.db"); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		db, err = Open("d.db", opts)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := db.View(func(tx *Tx) error {
			_, err := tx.Bucket([]byte("old"))
			return err
		}); !errors.Is(err, ErrBucketMissing) {
			t.Fatalf("round %d: the old database's log was replayed: %v", round, err)
		}
		put(t, db, "new", fmt.Sprint(round), "y")
		if got := get(t, db, "new", "0"); got != "y" {
			t.Fatalf("round %d: new/0 = %q", round, got)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSegmentsMadeAheadUnderLoad: on the real file system the log makes its next segments
// in a goroutine of its own while 4 writers commit durably (the race detector watches
// the two), and the commits roll into them: most segments of a new database are made
// ahead, and everything committed reads back after a reopen.
func TestSegmentsMadeAheadUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	opts := &Options{PageSize: 1024, CheckpointBytes: 1 << 30, WALSegmentBytes: segBytes(16)}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				if err := db.Update(func(tx *Tx) error {
					b, err := tx.Bucket([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put(fmt.Appendf(nil, "w%d-%03d", w, i), make([]byte, 300))
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := db.Stats()
	t.Logf("%d segments in use, %d made ahead, %d spares", st.WALSegments, st.WALPrepared, st.WALSpares)
	if st.WALSegments < 4 || st.WALPrepared < uint64(st.WALSegments)/2 {
		t.Fatalf("%d segments in use, only %d made ahead", st.WALSegments, st.WALPrepared)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for w := range 4 {
		if got := get(t, db, "b", fmt.Sprintf("w%d-039", w)); len(got) != 300 {
			t.Fatalf("w%d-039: %d bytes", w, len(got))
		}
	}
}
