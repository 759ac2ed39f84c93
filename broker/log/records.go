package log

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batchRecords decodes the records of a batch, decompressing them when the batch is
// compressed.
func batchRecords(dec kgo.Decompressor, b Batch, raw []byte) ([]record, error) {
	p := raw[HeaderSize:]
	if c := b.Compression(); c != 0 {
		var err error
		if p, err = dec.Decompress(p, kgo.CompressionCodecType(c)); err != nil {
			return nil, fmt.Errorf("decompress batch at %d: %w", b.BaseOffset, err)
		}
	}
	return parseRecords(p, b.NumRecords)
}

// record is one record of a batch, as much of it as compaction needs; raw is all of
// its bytes, length prefix included.
type record struct {
	tsDelta     int64
	offsetDelta int32
	key         []byte // nil for a null key
	tombstone   bool   // null value
	raw         []byte
}

// parseRecords splits the (uncompressed) records section of a batch.
func parseRecords(p []byte, n int32) ([]record, error) {
	out := make([]record, 0, max(n, 0))
	for i := int32(0); i < n; i++ {
		length, k := binary.Varint(p)
		if k <= 0 || length < 0 || int64(len(p)-k) < length {
			return nil, fmt.Errorf("%w: record %d length", ErrCorrupt, i)
		}
		raw, body := p[:k+int(length)], p[k:k+int(length)]
		p = p[k+int(length):]
		var r record
		r.raw = raw
		if len(body) < 1 {
			return nil, fmt.Errorf("%w: record %d empty", ErrCorrupt, i)
		}
		body = body[1:] // attributes
		ts, k := binary.Varint(body)
		if k <= 0 {
			return nil, fmt.Errorf("%w: record %d timestamp", ErrCorrupt, i)
		}
		r.tsDelta, body = ts, body[k:]
		od, k := binary.Varint(body)
		if k <= 0 {
			return nil, fmt.Errorf("%w: record %d offset delta", ErrCorrupt, i)
		}
		r.offsetDelta, body = int32(od), body[k:]
		kl, k := binary.Varint(body)
		if k <= 0 || kl < -1 || int64(len(body)-k) < kl {
			return nil, fmt.Errorf("%w: record %d key", ErrCorrupt, i)
		}
		body = body[k:]
		if kl >= 0 {
			r.key, body = body[:kl], body[kl:]
		}
		vl, k := binary.Varint(body)
		if k <= 0 || vl < -1 || int64(len(body)-k) < vl {
			return nil, fmt.Errorf("%w: record %d value", ErrCorrupt, i)
		}
		r.tombstone = vl == -1
		out = append(out, r)
	}
	return out, nil
}

// buildBatch makes an uncompressed batch from the header of orig and the given records,
// keeping orig's base and last offsets (so that offsets after it do not move).
func buildBatch(orig Batch, recs []record) []byte {
	size := HeaderSize
	for _, r := range recs {
		size += len(r.raw)
	}
	b := make([]byte, HeaderSize, size)
	be.PutUint64(b[0:], uint64(orig.BaseOffset))
	be.PutUint32(b[8:], uint32(size-lengthEnd))
	be.PutUint32(b[12:], uint32(orig.LeaderEpoch))
	b[16] = 2
	be.PutUint16(b[21:], uint16(orig.Attributes&^7)) // no compression
	be.PutUint32(b[23:], uint32(orig.LastOffsetDelta))
	be.PutUint64(b[27:], uint64(orig.FirstTimestamp))
	be.PutUint64(b[35:], uint64(orig.MaxTimestamp))
	be.PutUint64(b[43:], uint64(orig.ProducerID))
	be.PutUint16(b[51:], uint16(orig.ProducerEpoch))
	be.PutUint32(b[53:], uint32(orig.BaseSequence))
	be.PutUint32(b[57:], uint32(len(recs)))
	for _, r := range recs {
		b = append(b, r.raw...)
	}
	be.PutUint32(b[17:], crc32Castagnoli(b[21:]))
	return b
}
