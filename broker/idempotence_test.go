package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerBatch builds a record batch of n one-byte records from an idempotent producer.
func producerBatch(pid int64, epoch int16, seq int32, n int) []byte {
	return recordBatch(pid, epoch, seq, n, func(i int) []byte { return []byte{byte(seq) + byte(i)} })
}

// recordBatch builds a v2 record batch of n records, value(i) being the i-th record's
// value, from producer pid with its epoch and base sequence (-1, -1, -1: no producer).
func recordBatch(pid int64, epoch int16, seq int32, n int, value func(i int) []byte) []byte {
	var recs []byte
	for i := range n {
		v := value(i)
		r := []byte{0}
		r = binary.AppendVarint(r, 0)
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, -1)
		r = binary.AppendVarint(r, int64(len(v)))
		r = append(r, v...)
		r = binary.AppendVarint(r, 0)
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(49+len(recs)))
	b[16] = 2
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestIdempotentProducerSequences(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "idem", 1, nil)
	cl := newClient(t, b.addr)
	ctx := context.Background()

	ipr, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %d", err, ipr.ErrorCode)
	}
	pid := ipr.ProducerID
	ipr2, _ := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if ipr2.ProducerID == pid {
		t.Fatal("two producers got the same id")
	}

	produce := func(batch []byte) (int64, int16) {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.BaseOffset, p.ErrorCode
	}
	steps := []struct {
		name     string
		batch    []byte
		wantBase int64
		wantCode int16
	}{
		{"first", producerBatch(pid, 0, 0, 3), 0, 0},
		{"next", producerBatch(pid, 0, 3, 2), 3, 0},
		{"retry of first", producerBatch(pid, 0, 0, 3), 0, 0},
		{"retry of next", producerBatch(pid, 0, 3, 2), 3, 0},
		{"gap", producerBatch(pid, 0, 9, 1), -1, kerr.OutOfOrderSequenceNumber.Code},
		{"reordered", producerBatch(pid, 0, 4, 1), -1, kerr.OutOfOrderSequenceNumber.Code},
		{"in order again", producerBatch(pid, 0, 5, 1), 5, 0},
		{"new epoch must start at 0", producerBatch(pid, 1, 6, 1), -1, kerr.OutOfOrderSequenceNumber.Code},
		{"new epoch", producerBatch(pid, 1, 0, 1), 6, 0},
		{"old epoch fenced", producerBatch(pid, 0, 6, 1), -1, kerr.InvalidProducerEpoch.Code},
		{"other producer", producerBatch(ipr2.ProducerID, 0, 0, 1), 7, 0},
	}
	for _, st := range steps {
		base, code := produce(st.batch)
		if code != st.wantCode || (code == 0 && base != st.wantBase) {
			t.Fatalf("%s: base %d code %d, want base %d code %d", st.name, base, code, st.wantBase, st.wantCode)
		}
	}
	if end := b.topics.partition("idem", 0).log.EndOffset(); end != 8 {
		t.Fatalf("log end %d: duplicates were appended", end)
	}
}

func TestIdempotentStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{Dir: dir})
	createTopic(t, b.addr, "idem", 1, nil)
	p := b.topics.partition("idem", 0)
	if _, _, code := p.append(producerBatch(42, 0, 0, 2)); code != 0 {
		t.Fatal(code)
	}
	b.topics.close()

	s, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.topics.close()
	p = s.topics.partition("idem", 0)
	if base, _, code := p.append(producerBatch(42, 0, 0, 2)); code != 0 || base != 0 {
		t.Fatalf("retry after restart: base %d code %d, want the first append's 0", base, code)
	}
	if _, _, code := p.append(producerBatch(42, 0, 5, 1)); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after restart: code %d", code)
	}
	if p.log.EndOffset() != 2 {
		t.Fatalf("end %d", p.log.EndOffset())
	}
}

// TestProducerSnapshotCoversOlderSegments: a producer whose last batch lies in a
// sealed segment is still recognised after a restart, through the snapshot written
// at close.
func TestProducerSnapshotCoversOlderSegments(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{Dir: dir})
	seg := "200"
	createTopic(t, b.addr, "snap", 1, map[string]*string{"segment.bytes": &seg})
	p := b.topics.partition("snap", 0)
	if _, _, code := p.append(producerBatch(7, 0, 0, 2)); code != 0 {
		t.Fatal(code)
	}
	for i := 0; i < 5; i++ { // other producers roll the segment away
		if _, _, code := p.append(producerBatch(100+int64(i), 0, 0, 3)); code != 0 {
			t.Fatal(code)
		}
	}
	if p.log.ActiveStart() == 0 {
		t.Fatal("the first batch is still in the active segment")
	}
	b.topics.close()

	s, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.topics.close()
	p = s.topics.partition("snap", 0)
	end := p.log.EndOffset()
	if base, _, code := p.append(producerBatch(7, 0, 0, 2)); code != 0 || base != 0 {
		t.Fatalf("retry of the first batch after restart: base %d code %d, want 0 and no append", base, code)
	}
	if _, _, code := p.append(producerBatch(7, 0, 3, 1)); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("a gap after restart: code %d", code)
	}
	if p.log.EndOffset() != end {
		t.Fatal("a duplicate was appended")
	}
}
