package store

import (
	"fmt"
	"testing"

	"gantry/store/page"
	"gantry/store/vfs"
)

// FuzzOpen opens damaged data files. Every page is resealed first so that the fuzzer gets
// past the checksums to the structure behind them. Open, Check and reads must return
// errors, never panic or hang.
func FuzzOpen(f *testing.F) {
	mem := vfs.NewMemFS()
	db, err := Open("seed.db", &Options{FS: mem, PageSize: 1024})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 40 {
		put(f, db, "b", fmt.Sprintf("key%02d", i), fmt.Sprintf("value-%d", i))
	}
	put(f, db, "b", "big", string(make([]byte, 3000)))
	db.Close()
	f.Add(mem.Contents("seed.db"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		for off := 0; off+1024 <= len(data); off += 1024 {
			page.Seal(data[off:off+1024], page.LSN(data[off:]))
		}
		fs := vfs.NewMemFS()
		fh, _ := fs.OpenFile("f.db", true)
		fh.WriteAt(data, 0)
		fh.Close()
		db, err := Open("f.db", &Options{FS: fs})
		if err != nil {
			return
		}
		defer db.Close()
		db.Check()
		db.View(func(tx *Tx) error {
			names, _ := tx.Buckets()
			for _, n := range names {
				b, err := tx.Bucket([]byte(n))
				if err != nil {
					continue
				}
				b.Get([]byte("key07"))
				c := b.Cursor()
				steps := 0
				for k, _ := c.First(); k != nil && steps < 1000; k, _ = c.Next() {
					steps++
				}
			}
			return nil
		})
	})
}
