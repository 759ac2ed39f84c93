package broker

import (
	"encoding/binary"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchFrame encodes a Fetch response (versions 4 to 12, as this broker fills them:
// no aborted transactions, no tagged fields) after hdr, the frame's size placeholder and
// response header. The record batches are not copied: the buffers point at the bytes
// read from the log, and the connection writes them with writev. It reports false for a
// response outside that shape, which the caller then encodes with kmsg.
func fetchFrame(hdr []byte, r *kmsg.FetchResponse) (net.Buffers, bool) {
	if r.Version < 4 || r.Version > 12 || r.UnknownTags.Len() > 0 || len(r.Brokers) > 0 {
		return nil, false
	}
	flex := r.Version >= 12
	be := binary.BigEndian
	arrayLen := func(b []byte, n int) []byte {
		if flex {
			return binary.AppendUvarint(b, uint64(n)+1)
		}
		return be.AppendUint32(b, uint32(n))
	}
	var out net.Buffers
	b := hdr
	if r.Version >= 1 {
		b = be.AppendUint32(b, uint32(r.ThrottleMillis))
	}
	if r.Version >= 7 {
		b = be.AppendUint16(b, uint16(r.ErrorCode))
		b = be.AppendUint32(b, uint32(r.SessionID))
	}
	b = arrayLen(b, len(r.Topics))
	for i := range r.Topics {
		t := &r.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return nil, false
		}
		if flex {
			b = binary.AppendUvarint(b, uint64(len(t.Topic))+1)
		} else {
			b = be.AppendUint16(b, uint16(len(t.Topic)))
		}
		b = append(b, t.Topic...)
		b = arrayLen(b, len(t.Partitions))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.AbortedTransactions != nil || p.UnknownTags.Len() > 0 || p.DivergingEpoch.Epoch != -1 ||
				p.DivergingEpoch.EndOffset != -1 || p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 {
				return nil, false
			}
			b = be.AppendUint32(b, uint32(p.Partition))
			b = be.AppendUint16(b, uint16(p.ErrorCode))
			b = be.AppendUint64(b, uint64(p.HighWatermark))
			b = be.AppendUint64(b, uint64(p.LastStableOffset))
			if r.Version >= 5 {
				b = be.AppendUint64(b, uint64(p.LogStartOffset))
			}
			if flex { // aborted transactions: null
				b = append(b, 0)
			} else {
				b = be.AppendUint32(b, 0xffffffff)
			}
			if r.Version >= 11 {
				b = be.AppendUint32(b, uint32(p.PreferredReadReplica))
			}
			switch {
			case p.RecordBatches == nil && flex:
				b = append(b, 0)
			case p.RecordBatches == nil:
				b = be.AppendUint32(b, 0xffffffff)
			case flex:
				b = binary.AppendUvarint(b, uint64(len(p.RecordBatches))+1)
			default:
				b = be.AppendUint32(b, uint32(len(p.RecordBatches)))
			}
			if len(p.RecordBatches) > 0 {
				out = append(out, b, p.RecordBatches)
				b = make([]byte, 0, 64)
			}
			if flex {
				b = append(b, 0) // no tagged fields
			}
		}
		if flex {
			b = append(b, 0)
		}
	}
	if flex {
		b = append(b, 0)
	}
	return append(out, b), true
}
