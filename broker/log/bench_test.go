package log

import (
	"fmt"
	"sync"
	"testing"
)

func BenchmarkParseBatch(b *testing.B) {
	batch := makeBatch(16, 1, 1024)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend appends 16 KiB batches (16 records of 1 KiB) without syncing: the
// cost of the log itself above the page cache.
func BenchmarkAppend(b *testing.B) {
	l, err := Open(b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := makeBatch(16, 1, 1024)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads 1 MiB at a time from a log of 16 KiB batches, as a consumer
// catching up does.
func BenchmarkRead(b *testing.B) {
	l, err := Open(b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := makeBatch(16, 1, 1024)
	for i := 0; i < 2048; i++ {
		l.Append(append([]byte(nil), batch...))
	}
	end := l.EndOffset()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		p, err := l.Read(off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		bs, _ := SplitBatches(p)
		off = bs[len(bs)-1].LastOffset() + 1
		if off >= end {
			off = 0
		}
	}
}

// BenchmarkAppendSync appends a 4 KiB batch to each of 1 or 4 logs and syncs them side
// by side, as an acks=all produce of a few records does: the latency of a small
// durable append on the disk under the test's temporary directory. It measures the
// disk (and whatever else uses it) as much as the log; compare runs taken together.
func BenchmarkAppendSync(b *testing.B) {
	batch := makeBatch(4, 1, 1000)
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("logs=%d", n), func(b *testing.B) {
			logs := make([]*Log, n)
			for i := range logs {
				l, err := Open(b.TempDir(), Config{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				logs[i] = l
			}
			b.SetBytes(int64(n * len(batch)))
			b.ReportAllocs()
			var wg sync.WaitGroup
			errs := make([]error, n)
			for b.Loop() {
				for i, l := range logs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, _, err := l.Append(append([]byte(nil), batch...)); err != nil {
							errs[i] = err
							return
						}
						errs[i] = l.Sync()
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
