package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a record batch header (format v2), up to and including
// the record count.
const HeaderSize = 61

// lengthEnd is where the batchLength field ends: a batch occupies lengthEnd+batchLength bytes.
const lengthEnd = 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32Castagnoli(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// ErrCorrupt reports a record batch that cannot be trusted: too short, a length that does
// not fit, a magic other than 2, or a CRC that does not match.
var ErrCorrupt = errors.New("corrupt record batch")

// Batch is the header of a record batch, decoded.
type Batch struct {
	BaseOffset      int64
	Length          int32 // bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Size is the number of bytes the whole batch occupies.
func (b *Batch) Size() int { return lengthEnd + int(b.Length) }

// LastOffset is the offset of the batch's last record.
func (b *Batch) LastOffset() int64 { return b.BaseOffset + int64(b.LastOffsetDelta) }

// Compression is the codec in the attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (b *Batch) Compression() int { return int(b.Attributes & 7) }

// IsTransactional and IsControl report the attribute bits of transactional batches.
func (b *Batch) IsTransactional() bool { return b.Attributes&0x10 != 0 }

// IsControl reports a control batch (transaction markers).
func (b *Batch) IsControl() bool { return b.Attributes&0x20 != 0 }

// maxBatchLength bounds the length field so that a garbled header cannot make a reader
// allocate gigabytes. Callers enforce their own, smaller, limits on top.
const maxBatchLength = 1 << 30

// ParseHeader decodes the header at the start of p without checking the CRC. It fails
// when p is shorter than a header, the magic is not 2, or the length field is
// impossible. It does not require the whole batch to be in p.
func ParseHeader(p []byte) (Batch, error) {
	var b Batch
	if len(p) < HeaderSize {
		return b, fmt.Errorf("%w: %d bytes, a header needs %d", ErrCorrupt, len(p), HeaderSize)
	}
	be := binary.BigEndian
	b.BaseOffset = int64(be.Uint64(p[0:]))
	b.Length = int32(be.Uint32(p[8:]))
	b.LeaderEpoch = int32(be.Uint32(p[12:]))
	b.Magic = int8(p[16])
	b.CRC = be.Uint32(p[17:])
	b.Attributes = int16(be.Uint16(p[21:]))
	b.LastOffsetDelta = int32(be.Uint32(p[23:]))
	b.FirstTimestamp = int64(be.Uint64(p[27:]))
	b.MaxTimestamp = int64(be.Uint64(p[35:]))
	b.ProducerID = int64(be.Uint64(p[43:]))
	b.ProducerEpoch = int16(be.Uint16(p[51:]))
	b.BaseSequence = int32(be.Uint32(p[53:]))
	b.NumRecords = int32(be.Uint32(p[57:]))
	switch {
	case b.Magic != 2:
		return b, fmt.Errorf("%w: magic %d, only 2 is supported", ErrCorrupt, b.Magic)
	case b.Length < HeaderSize-lengthEnd || b.Length > maxBatchLength:
		return b, fmt.Errorf("%w: length %d", ErrCorrupt, b.Length)
	case b.LastOffsetDelta < 0 || b.NumRecords < 0:
		return b, fmt.Errorf("%w: last offset delta %d, %d records", ErrCorrupt, b.LastOffsetDelta, b.NumRecords)
	}
	return b, nil
}

// ParseBatch decodes the batch at the start of p and checks that all of it is there
// and that its CRC-32C matches. It returns the header; the batch is p[:b.Size()].
func ParseBatch(p []byte) (Batch, error) {
	b, err := ParseHeader(p)
	if err != nil {
		return b, err
	}
	if len(p) < b.Size() {
		return b, fmt.Errorf("%w: batch of %d bytes, %d present", ErrCorrupt, b.Size(), len(p))
	}
	if got := crc32.Checksum(p[21:b.Size()], castagnoli); got != b.CRC {
		return b, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, b.CRC, got)
	}
	return b, nil
}

// SplitBatches checks every batch in p (a Produce request's records) and returns their
// headers. p must hold whole batches and nothing else.
func SplitBatches(p []byte) ([]Batch, error) {
	var out []Batch
	for len(p) > 0 {
		b, err := ParseBatch(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		p = p[b.Size():]
	}
	return out, nil
}

// setBaseOffset rewrites the base offset of the batch at the start of p. The base
// offset is outside the CRC, so the batch stays valid.
func setBaseOffset(p []byte, off int64) { binary.BigEndian.PutUint64(p, uint64(off)) }

// SetLeaderEpoch rewrites the partition leader epoch, which is outside the CRC too.
func SetLeaderEpoch(p []byte, epoch int32) { binary.BigEndian.PutUint32(p[12:], uint32(epoch)) }
