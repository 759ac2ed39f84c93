package store_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gantry/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "app.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	err = db.Update(func(tx *store.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("planets"))
		if err != nil {
			return err
		}
		for _, p := range []string{"mercury", "venus", "earth", "mars"} {
			if err := b.Put([]byte(p), []byte(fmt.Sprint(len(p)))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	err = db.View(func(tx *store.Tx) error {
		b, err := tx.Bucket([]byte("planets"))
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte("m")); k != nil; k, v = c.Next() {
			fmt.Printf("%s=%s\n", k, v)
		}
		return c.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// mars=4
	// mercury=7
	// venus=5
}

// Two transactions write the same key: the second to commit gets ErrConflict and, run
// through Update with Options.Retries, runs again on the new state.
func ExampleErrConflict() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	db, _ := store.Open(filepath.Join(dir, "app.db"), &store.Options{NoSync: true})
	defer db.Close()
	db.Update(func(tx *store.Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		return b.Put([]byte("k"), []byte("0"))
	})
	t1, _ := db.Begin(true)
	t2, _ := db.Begin(true)
	for i, tx := range []*store.Tx{t1, t2} {
		b, _ := tx.Bucket([]byte("b"))
		b.Put([]byte("k"), []byte(fmt.Sprint(i+1)))
	}
	fmt.Println(t1.Commit())
	fmt.Println(t2.Commit())
	// Output:
	// <nil>
	// store: transaction conflict: key "k" was written by a concurrent transaction
}

func ExampleDB_Load() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "app.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Sorted input, in one durable commit; the bucket is created if missing.
	i := 0
	n, err := db.Load([]byte("squares"), func() ([]byte, []byte, error) {
		if i == 1000 {
			return nil, nil, nil // the end
		}
		i++
		return fmt.Appendf(nil, "%04d", i), fmt.Append(nil, i*i), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	err = db.View(func(tx *store.Tx) error {
		b, err := tx.Bucket([]byte("squares"))
		if err != nil {
			return err
		}
		v, err := b.Get([]byte("0012"))
		fmt.Println(n, "loaded; 12² =", string(v))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 1000 loaded; 12² = 144
}
