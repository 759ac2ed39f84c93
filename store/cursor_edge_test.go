package store

import (
	"fmt"
	"slices"
	"testing"
)

// TestCursorAtBucketEdges: buckets small enough to share leaves, so that leaves hold keys
// of two or three buckets: scans forward and backward, seeks, and gets give each bucket its
// own keys and no other's, read from the data file (after a reopen), from the log's newest
// versions, and by a reader one commit behind a writer.
func TestCursorAtBucketEdges(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir+"/e.db", &Options{NoSync: true, PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	fill := func(round int) {
		err := db.Update(func(tx *Tx) error {
			for b := range 6 {
				name := fmt.Sprintf("b%d", b)
				bk, err := tx.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return err
				}
				for i := range 3 + 4*b {
					k := fmt.Sprintf("k%d-%03d", round, i)
					if err := bk.Put([]byte(k), []byte(name+"/"+k)); err != nil {
						return err
					}
					want[name] = append(want[name], k)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ks := range want {
			slices.Sort(ks)
		}
	}
	check := func(when string) {
		t.Helper()
		err := db.View(func(tx *Tx) error { return checkBuckets(tx, want) })
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	fill(0)
	check("after the first commit")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(dir+"/e.db", &Options{NoSync: true, PageSize: 1024}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check("after a reopen")
	for round := 1; round < 4; round++ {
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		before := map[string][]string{}
		for b, ks := range want {
			before[b] = slices.Clone(ks)
		}
		fill(round)
		if err := checkBuckets(tx, before); err != nil {
			t.Fatalf("round %d, a reader one commit behind: %v", round, err)
		}
		tx.Rollback()
		check(fmt.Sprintf("round %d", round))
	}
}

func checkBuckets(tx *Tx, want map[string][]string) error {
	for name, ks := range want {
		bk, err := tx.Bucket([]byte(name))
		if err != nil {
			return err
		}
		var fwd, back []string
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(v) != name+"/"+string(k) {
				return fmt.Errorf("%s: %q holds %q", name, k, v)
			}
			fwd = append(fwd, string(k))
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			back = append(back, string(k))
		}
		slices.Reverse(back)
		if !slices.Equal(fwd, ks) || !slices.Equal(back, ks) {
			return fmt.Errorf("%s: forward %q, backward %q, want %q", name, fwd, back, ks)
		}
		if err := c.Err(); err != nil {
			return err
		}
		for i, k := range ks {
			if got, _ := c.Seek([]byte(k)); string(got) != k {
				return fmt.Errorf("%s: Seek(%q) = %q", name, k, got)
			}
			// Just past k: the next key, or the end of the bucket (not the next bucket).
			got, _ := c.Seek([]byte(k + "\x00"))
			if i+1 < len(ks) && string(got) != ks[i+1] || i+1 == len(ks) && got != nil {
				return fmt.Errorf("%s: Seek past %q = %q", name, k, got)
			}
			if v, err := bk.Get([]byte(k)); err != nil || string(v) != name+"/"+k {
				return fmt.Errorf("%s: Get(%q) = %q, %v", name, k, v, err)
			}
		}
		if v, _ := bk.Get([]byte("zzz")); v != nil {
			return fmt.Errorf("%s: Get of a missing key = %q", name, v)
		}
	}
	return nil
}
