package btree_test

import (
	"fmt"

	"gantry/lab/btree"
)

func Example() {
	t, _ := btree.New(4096)
	for i := range 1000 {
		t.Put(fmt.Appendf(nil, "key-%04d", i), []byte("value"))
	}
	v, pages, _ := t.Get([]byte("key-0500"))
	fmt.Printf("%s after %d of %d levels\n", v, pages, t.Shape().Height)
	st := t.Scan([]byte("key-0100"), 50, func(k, v []byte) bool { return true })
	fmt.Printf("a scan of %d entries read %d pages\n", st.Entries, st.Pages)
	// Output:
	// value after 2 of 2 levels
	// a scan of 50 entries read 2 pages
}
