package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The crash harness. The parent test re-runs this test binary as a child that commits
// random transactions from several goroutines and, after each Commit returns, appends the
// transaction's id to a journal and fsyncs it. The parent SIGKILLs the child at a random
// moment, reopens the database and checks: every journalled (acknowledged) transaction is
// present whole unless a later present transaction deleted it; no transaction is present in
// part; Check is clean.
//
// Transaction id X writes keys "tx/X/0".."tx/X/n-1" and "tx/X/n" = n (its size), and may
// delete an earlier transaction Y whole, recording "del/X" = Y.
//
// STORE_CRASH_CYCLES sets the number of kills (default 200, or 4 with -short).
//
// Every other database has log segments of 8 KiB (7 frames of its 1 KiB pages) beside a
// 16 KiB checkpoint distance: a commit rolls into a new or recycled segment every few
// transactions, many transactions span two or three segments, and checkpoints recycle
// segments all the time, so that kills land in rolls, recycles and checkpoints.

const childEnv, segEnv = "STORE_CRASH_CHILD", "STORE_CRASH_SEGMENT"

func TestCrashHarnessChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("runs only as the crash harness's child process")
	}
	if err := crashChild(dir); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
}

func crashChild(dir string) error {
	// The lock can be briefly held by no live opener: the parent's workers fork children
	// side by side, and a child forked while the parent had the database open for its
	// check holds a copy of that descriptor, and with it the flock, until it execs. On a
	// loaded machine that took longer than this child's start (TestCrashHarness failed
	// with ErrLocked), so the child waits a bounded time for the lock.
	opts := &Options{PageSize: 1024, CheckpointBytes: 16 << 10, Retries: 100}
	opts.WALSegmentBytes, _ = strconv.ParseInt(os.Getenv(segEnv), 10, 64)
	db, err := Open(filepath.Join(dir, "crash.db"), opts)
	for wait := time.Now().Add(5 * time.Second); errors.Is(err, ErrLocked) && time.Now().Before(wait); {
		time.Sleep(5 * time.Millisecond)
		db, err = Open(filepath.Join(dir, "crash.db"), opts)
	}
	if err != nil {
		return err
	}
	journal, err := os.OpenFile(filepath.Join(dir, "journal"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var jmu sync.Mutex
	base := time.Now().UnixNano() / 1000 % 1e12 * 1000 // ids unique across child runs
	deadline := time.Now().Add(20 * time.Second)       // never outlive a vanished parent for long
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	// A reader holds snapshots open across the writers' checkpoints, so that kills land
	// in checkpoints that save versions aside for it, and checks that its snapshot holds.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(uint64(base), 99))
		for time.Now().Before(deadline) {
			if err := holdSnapshot(db, time.Duration(rng.IntN(5000))*time.Microsecond); err != nil {
				// At once: the writers run until the deadline, long after the kill.
				fmt.Fprintln(os.Stderr, "child: reader:", err)
				os.Exit(3)
			}
		}
	})
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(base), uint64(w)))
			var mine []int64
			for i := int64(0); time.Now().Before(deadline); i++ {
				id := base + i*4 + int64(w)
				del := int64(-1)
				if len(mine) > 3 && rng.IntN(4) == 0 {
					j := rng.IntN(len(mine))
					del = mine[j]
					mine = append(mine[:j], mine[j+1:]...)
				}
				n := 1 + rng.IntN(12)
				err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("t"))
					if err != nil {
						return err
					}
					for k := range n {
						v := bytes.Repeat([]byte{byte(k)}, rng.IntN(300))
						if rng.IntN(40) == 0 {
							v = bytes.Repeat([]byte{1}, 3000+rng.IntN(5000))
						}
						if err := b.Put(fmt.Appendf(nil, "tx/%d/%d", id, k), v); err != nil {
							return err
						}
					}
					if err := b.Put(fmt.Appendf(nil, "tx/%d/%d", id, n), []byte(strconv.Itoa(n))); err != nil {
						return err
					}
					if del >= 0 {
						c := b.Cursor()
						prefix := fmt.Appendf(nil, "tx/%d/", del)
						for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
							if err := b.Delete(k); err != nil {
								return err
							}
						}
						return b.Put(fmt.Appendf(nil, "del/%d", id), []byte(strconv.FormatInt(del, 10)))
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, id)
				jmu.Lock()
				_, err = fmt.Fprintf(journal, "%d\n", id)
				if err == nil {
					err = journal.Sync()
				}
				jmu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// holdSnapshot reads bucket "t" in a read transaction, waits d, and reads it again: the
// two reads must be the same.
func holdSnapshot(db *DB, d time.Duration) error {
	return db.View(func(tx *Tx) error {
		scan := func() (string, error) {
			b, err := tx.Bucket([]byte("t"))
			if errors.Is(err, ErrBucketMissing) {
				return "", nil
			}
			if err != nil {
				return "", err
			}
			h := crc32.NewIEEE()
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				h.Write(k)
				h.Write(v)
			}
			return fmt.Sprintf("%08x", h.Sum32()), c.Err()
		}
		first, err := scan()
		if err != nil {
			return err
		}
		time.Sleep(d)
		second, err := scan()
		if err == nil && second != first {
			err = fmt.Errorf("a snapshot held %v read %s, then %s", d, first, second)
		}
		return err
	})
}

func TestCrashHarness(t *testing.T) {
	cycles := 200
	if testing.Short() {
		cycles = 4
	}
	if n, err := strconv.Atoi(os.Getenv("STORE_CRASH_CYCLES")); err == nil {
		cycles = n
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Four workers kill children side by side: a child spends most of its life starting up
	// and waiting for fsyncs, so cycles overlap well even on two cores. Each worker starts
	// a new database every 25 cycles, which keeps a cycle's reopen and check short.
	const workers, perDB = 4, 25
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var dir string
			var seg int64
			for n := 0; ; n++ {
				cycle := int(next.Add(1)) - 1
				if cycle >= cycles {
					return
				}
				if n%perDB == 0 {
					dir = t.TempDir()
					if seg = 0; (n/perDB+w)%2 == 0 {
						seg = 8 << 10
					}
				}
				if err := crashCycle(exe, dir, seg, rng); err != nil {
					errs <- fmt.Errorf("cycle %d: %w", cycle, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// crashCycle starts a child on dir, kills it at a random moment, and checks the database.
func crashCycle(exe, dir string, seg int64, rng *rand.Rand) error {
	journal := filepath.Join(dir, "journal")
	before := fileSize(journal)
	cmd := exec.Command(exe, "-test.run=^TestCrashHarnessChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, segEnv+"="+strconv.FormatInt(seg, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait() // reaps the child if we return early
	if rng.IntN(5) == 0 {
		// Sometimes kill before the child acknowledges anything in this life: during its
		// start, its recovery and the checkpoint that follows.
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	} else {
		// Else once it has made progress (slower under -race, hence the wait), a random
		// moment later.
		deadline := time.Now().Add(20 * time.Second)
		for fileSize(journal) == before {
			if time.Now().After(deadline) {
				cmd.Process.Signal(syscall.SIGKILL)
				return fmt.Errorf("the child committed nothing in 20 s: %s", stderr.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		return fmt.Errorf("child ended before the kill: %v\n%s", err, stderr.String())
	}
	return verifyCrash(dir)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func verifyCrash(dir string) error {
	// As in crashChild: a sibling child forked while this process had the database open
	// for the last check holds the lock until it execs, which can take a while on a loaded
	// machine (seen: ErrLocked after a kill during the next child's start).
	db, err := Open(filepath.Join(dir, "crash.db"), nil)
	for wait := time.Now().Add(5 * time.Second); errors.Is(err, ErrLocked) && time.Now().Before(wait); {
		time.Sleep(5 * time.Millisecond)
		db, err = Open(filepath.Join(dir, "crash.db"), nil)
	}
	if err != nil {
		return fmt.Errorf("reopen after kill: %w", err)
	}
	defer db.Close()
	if rep, err := db.Check(); err != nil {
		return fmt.Errorf("%w %v", err, rep.Problems)
	}
	// The log's files stay bounded: the segments in use plus the spares kept (at most
	// 16K/8K + 4 in the child), whatever the kills interrupted.
	segs, err := filepath.Glob(filepath.Join(dir, "crash.db.*-wal"))
	if err != nil {
		return err
	}
	if st := db.Stats(); len(segs) != st.WALSegments+st.WALSpares || len(segs) > 24 {
		return fmt.Errorf("%d log segment files: %d in use, %d spares", len(segs), st.WALSegments, st.WALSpares)
	}
	keys := map[string]map[int]string{} // tx id -> key index -> value
	deleted := map[string]bool{}
	err = db.View(func(tx *Tx) error {
		b, err := tx.Bucket([]byte("t"))
		if errors.Is(err, ErrBucketMissing) {
			return nil // killed before its first commit
		}
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			parts := strings.Split(string(k), "/")
			switch {
			case parts[0] == "del" && len(parts) == 2:
				deleted[string(v)] = true
			case parts[0] == "tx" && len(parts) == 3:
				i, _ := strconv.Atoi(parts[2])
				if keys[parts[1]] == nil {
					keys[parts[1]] = map[int]string{}
				}
				keys[parts[1]][i] = string(v)
			default:
				return fmt.Errorf("unexpected key %q", k)
			}
		}
		return c.Err()
	})
	if err != nil {
		return err
	}
	for id, ks := range keys {
		n := -1
		for i, v := range ks {
			if m, err := strconv.Atoi(v); err == nil && len(ks) == m+1 && i == m {
				n = m
			}
		}
		if n < 0 {
			return fmt.Errorf("transaction %s is present in part: %d keys", id, len(ks))
		}
	}
	f, err := os.Open(filepath.Join(dir, "journal"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing acknowledged yet
	}
	if err != nil {
		return err
	}
	defer f.Close()
	acked := 0
	for s := bufio.NewScanner(f); s.Scan(); acked++ {
		id := s.Text()
		if keys[id] == nil && !deleted[id] {
			return fmt.Errorf("acknowledged transaction %s is missing", id)
		}
	}
	return nil
}
