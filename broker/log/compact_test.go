package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"
)

type kv struct {
	key, value string // "" key: null key; "<nil>" value: tombstone
}

// keyedBatch builds an uncompressed batch of records with keys and values.
func keyedBatch(ts int64, kvs ...kv) []byte {
	var recs []byte
	for i, x := range kvs {
		r := []byte{0}
		r = binary.AppendVarint(r, 0)
		r = binary.AppendVarint(r, int64(i))
		if x.key == "" {
			r = binary.AppendVarint(r, -1)
		} else {
			r = binary.AppendVarint(r, int64(len(x.key)))
			r = append(r, x.key...)
		}
		if x.value == "<nil>" {
			r = binary.AppendVarint(r, -1)
		} else {
			r = binary.AppendVarint(r, int64(len(x.value)))
			r = append(r, x.value...)
		}
		r = binary.AppendVarint(r, 0)
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(recs))
	be.PutUint32(b[8:], uint32(HeaderSize-12+len(recs)))
	b[16] = 2
	be.PutUint32(b[23:], uint32(len(kvs)-1))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts))
	be.PutUint64(b[43:], ^uint64(0))
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], uint32(len(kvs)))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// contents lists "offset:key=value" for every record left in the log.
func contents(t *testing.T, l *Log) []string {
	t.Helper()
	var out []string
	err := l.ForEachBatch(l.StartOffset(), func(b Batch, raw []byte) bool {
		recs, err := parseRecords(raw[HeaderSize:], b.NumRecords)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			v := "<nil>"
			if !r.tombstone {
				// the value is the rest of the record after the key; recover it by parsing
				body := r.raw
				_, k := binary.Varint(body)
				body = body[k+1:]
				_, k = binary.Varint(body)
				body = body[k:]
				_, k = binary.Varint(body)
				body = body[k:]
				kl, k := binary.Varint(body)
				body = body[k+int(max(kl, 0)):]
				vl, k := binary.Varint(body)
				v = string(body[k : k+int(vl)])
			}
			out = append(out, fmt.Sprintf("%d:%s=%s", b.BaseOffset+int64(r.offsetDelta), r.key, v))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 100} // one batch per segment
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old, recent := now.Add(-2*time.Hour).UnixMilli(), now.UnixMilli()
	for _, b := range [][]byte{
		keyedBatch(old, kv{"a", "1"}, kv{"b", "1"}, kv{"", "no key"}), // 0,1,2
		keyedBatch(old, kv{"a", "2"}),                                 // 3
		keyedBatch(old, kv{"c", "1"}),                                 // 4
		keyedBatch(old, kv{"b", "<nil>"}),                             // 5: old tombstone, expires
		keyedBatch(recent, kv{"d", "1"}),                              // 6
		keyedBatch(recent, kv{"d", "<nil>"}),                          // 7: recent tombstone, kept
		keyedBatch(recent, kv{"c", "2"}),                              // 8: active segment
	} {
		if _, _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if l.Segments() < 5 {
		t.Fatalf("%d segments; the test needs sealed ones", l.Segments())
	}
	n, err := l.Compact(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2:=no key", "3:a=2", "7:d=<nil>", "8:c=2"}
	got := contents(t, l)
	if fmt.Sprint(got) != fmt.Sprint(want) || n != 5 {
		t.Fatalf("after compaction (%d removed): %v\nwant %v (5 removed)", n, got, want)
	}
	// Offsets did not move, reads from inside a gap land on the next record, and the
	// end is where it was.
	if l.EndOffset() != 9 {
		t.Fatalf("end %d", l.EndOffset())
	}
	p, err := l.Read(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := ParseBatch(p); b.LastOffset() < 4 {
		t.Fatalf("read from 4 returned the batch ending at %d", b.LastOffset())
	}
	// A second compaction finds nothing to do; the compacted log reopens intact.
	if n, err := l.Compact(now, time.Hour); err != nil || n != 0 {
		t.Fatalf("second compaction removed %d (%v)", n, err)
	}
	l.Close()
	l = openTest(t, dir, cfg)
	if got := contents(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reopen: %v", got)
	}
}

// TestReadsDuringCompactionAndRetention reads the log over and over while appends,
// compaction and retention change its segments: every read succeeds and returns
// batches in offset order.
func TestReadsDuringCompactionAndRetention(t *testing.T) {
	l := openTest(t, t.TempDir(), Config{SegmentBytes: 300, RetentionBytes: 20000, RetentionAge: -1})
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-stop:
				return
			default:
			}
			prev := int64(-1)
			err := l.ForEachBatch(l.StartOffset(), func(b Batch, raw []byte) bool {
				if b.BaseOffset <= prev {
					t.Errorf("batch %d after %d", b.BaseOffset, prev)
				}
				prev = b.BaseOffset
				return true
			})
			if err != nil && !errors.Is(err, ErrOutOfRange) { // the start may move under us
				errc <- err
				return
			}
		}
	}()
	now := time.Now()
	for i := 0; i < 400; i++ {
		key := fmt.Sprintf("k%d", i%7)
		if _, _, err := l.Append(keyedBatch(now.UnixMilli(), kv{key, fmt.Sprint(i)})); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if _, err := l.Compact(now, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Retain(now); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatalf("read during compaction: %v", err)
	}
}
