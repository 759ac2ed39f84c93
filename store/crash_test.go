package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
// STORE_CRASH_CYCLES sets the number of kills (default 10, or 2 with -short; 150 ran clean).

const childEnv = "STORE_CRASH_CHILD"

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
	db, err := Open(filepath.Join(dir, "crash.db"), &Options{PageSize: 1024, CheckpointBytes: 256 << 10, Retries: 100})
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

func TestCrashHarness(t *testing.T) {
	cycles := 10
	if testing.Short() {
		cycles = 2
	}
	if n, err := strconv.Atoi(os.Getenv("STORE_CRASH_CYCLES")); err == nil {
		cycles = n
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for cycle := range cycles {
		cmd := exec.Command(exe, "-test.run=^TestCrashHarnessChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it commit for a while; under -race it is slower, so wait for progress.
		waitForJournal(t, dir, 20*time.Second)
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child ended before the kill: %v\n%s", cycle, err, stderr.String())
		}
		verifyCrash(t, dir, cycle)
	}
}

func waitForJournal(t *testing.T, dir string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		fi, err := os.Stat(filepath.Join(dir, "journal"))
		if err == nil && fi.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the child committed nothing in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func verifyCrash(t *testing.T, dir string, cycle int) {
	t.Helper()
	db, err := Open(filepath.Join(dir, "crash.db"), nil)
	if err != nil {
		t.Fatalf("cycle %d: reopen after kill: %v", cycle, err)
	}
	defer db.Close()
	if rep, err := db.Check(); err != nil {
		t.Fatalf("cycle %d: %v %v", cycle, err, rep.Problems)
	}
	keys := map[string]map[int]string{} // tx id -> key index -> value
	deleted := map[string]bool{}
	err = db.View(func(tx *Tx) error {
		b, err := tx.Bucket([]byte("t"))
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
		t.Fatalf("cycle %d: %v", cycle, err)
	}
	for id, ks := range keys {
		n := -1
		for i, v := range ks {
			if m, err := strconv.Atoi(v); err == nil && len(ks) == m+1 && i == m {
				n = m
			}
		}
		if n < 0 {
			t.Fatalf("cycle %d: transaction %s is present in part: %d keys", cycle, id, len(ks))
		}
	}
	f, err := os.Open(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	acked := 0
	for s := bufio.NewScanner(f); s.Scan(); acked++ {
		id := s.Text()
		if keys[id] == nil && !deleted[id] {
			t.Fatalf("cycle %d: acknowledged transaction %s is missing", cycle, id)
		}
	}
	t.Logf("cycle %d: %d acknowledged, %d present, %d deleted", cycle, acked, len(keys), len(deleted))
}
