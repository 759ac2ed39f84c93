package broker

import "sync"

// Fetch read buffers and Produce request frames are pooled by size class, powers of
// two from 4 KiB to 16 MiB: a consumer that keeps up asks for a few KiB many times a
// second, one that catches up for a MiB or more per partition, a producer sends
// requests of a few MiB, and without the pool each of them allocated and zeroed a
// buffer of its own (zeroing produce frames was 16% of the broker's CPU under a
// produce load). Bigger buffers are not pooled.
const (
	minPooled   = 4 << 10
	poolClasses = 13 // up to minPooled<<12 = 16 MiB
)

// bufPool holds the free buffers of one server.
type bufPool struct {
	classes [poolClasses]sync.Pool // *[]byte of cap minPooled<<i
}

// get returns a buffer of length n whose contents are not zeroed, and the handle
// to give back to put (nil when n is too big to pool).
func (bp *bufPool) get(n int) ([]byte, *[]byte) {
	c := poolClass(n)
	if c < 0 {
		return make([]byte, n), nil
	}
	b, _ := bp.classes[c].Get().(*[]byte)
	if b == nil {
		buf := make([]byte, minPooled<<c)
		b = &buf
	}
	return (*b)[:n], b
}

// put gives back a buffer from get; nothing may use it afterwards.
func (bp *bufPool) put(b *[]byte) {
	if b != nil {
		bp.classes[poolClass(cap(*b))].Put(b)
	}
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
	b, h := f.pool.get(n)
	if h != nil {
		f.held = append(f.held, h)
	}
	return b
}

func (f *fetchBufs) release() {
	for _, h := range f.held {
		f.pool.put(h)
	}
	clear(f.held)
	f.held = f.held[:0]
}
