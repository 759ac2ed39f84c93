package log

import (
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
