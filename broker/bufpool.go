package broker

import "sync"

// Fetch read buffers are pooled by size class, powers of two from 4 KiB to 16 MiB: a
// consumer that keeps up asks for a few KiB many times a second, one that catches up
// for a MiB or more per partition, and without the pool each read allocated and
// zeroed a buffer of its own. Bigger reads are not pooled.
const (
	minPooled   = 4 << 10
	poolClasses = 13 // up to minPooled<<12 = 16 MiB
)

// bufPool holds the free read buffers of one server.
type bufPool struct {
	classes [poolClasses]sync.Pool // *[]byte of cap minPooled<<i
}

func poolClass(n int) int {
	for i := range poolClasses {
		if n <= minPooled<<i {
			return i
		}
	}
	return -1
}

// fetchBufs are the pooled buffers one Fetch response points into. They go back to
// the pool once the response is written (or thrown away): release must not run while
// anything still reads them.
type fetchBufs struct {
	pool *bufPool
	held []*[]byte
}

// get returns a buffer of length n; its contents are not zeroed.
func (f *fetchBufs) get(n int) []byte {
	c := poolClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	bp, _ := f.pool.classes[c].Get().(*[]byte)
	if bp == nil {
		b := make([]byte, minPooled<<c)
		bp = &b
	}
	f.held = append(f.held, bp)
	return (*bp)[:n]
}

func (f *fetchBufs) release() {
	for _, bp := range f.held {
		f.pool.classes[poolClass(cap(*bp))].Put(bp)
	}
	clear(f.held)
	f.held = f.held[:0]
}
