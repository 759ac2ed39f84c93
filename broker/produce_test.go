package broker

import (
	"context"
	"testing"
	"time"

	plog "gantry/broker/log"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceRaw sends one Produce request with batch for partition 0 of topic.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, acks int16, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// TestProduceAcks produces with acks 0, 1 and all through franz-go and checks that
// each lands, and that any other acks value is refused as Kafka refuses it.
func TestProduceAcks(t *testing.T) {
	b := startBroker(t, Config{})
	for _, tc := range []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}} {
		t.Run(tc.name, func(t *testing.T) {
			createTopic(t, b.addr, tc.name, 1, nil)
			cl := newClient(t, b.addr, kgo.RequiredAcks(tc.acks), kgo.DisableIdempotentWrite())
			for i := range 5 {
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: tc.name, Value: []byte{byte(i)}}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			recs := consumeN(t, b.addr, tc.name, 5)
			for i, r := range recs {
				if r.Value[0] != byte(i) || r.Offset != int64(i) {
					t.Fatalf("record %d: offset %d value %v", i, r.Offset, r.Value)
				}
			}
		})
	}
	// franz-go rewrites a request's acks to its own setting: acks=2 goes on a raw
	// connection.
	createTopic(t, b.addr, "badacks", 1, nil)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(8)
	req.Acks, req.TimeoutMillis = 2, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "badacks"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = producerBatch(-1, -1, -1, 1)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c := rawConn(t, b.addr)
	resp := exchange(t, c, req, 7).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: error %d, want INVALID_REQUIRED_ACKS", code)
	}
	if end := b.topics.partition("badacks", 0).log.EndOffset(); end != 0 {
		t.Fatalf("a refused produce appended: log end %d", end)
	}
}

// TestProduceRefusesCorruptBatches checks the batch checks at the broker: a wrong
// CRC-32C, a cut batch or a wrong magic byte is CORRUPT_MESSAGE, and nothing of the
// request is appended.
func TestProduceRefusesCorruptBatches(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "strict", 1, nil)
	cl := newClient(t, b.addr)
	good := producerBatch(-1, -1, -1, 3)
	for name, mutate := range map[string]func([]byte) []byte{
		"crc":           func(p []byte) []byte { p[len(p)-1] ^= 1; return p },
		"cut short":     func(p []byte) []byte { return p[:len(p)-2] },
		"magic 1":       func(p []byte) []byte { p[16] = 1; return p },
		"good then bad": func(p []byte) []byte { bad := append([]byte(nil), p...); bad[30] ^= 1; return append(p, bad...) },
		"empty":         func([]byte) []byte { return []byte{} },
	} {
		p := produceRaw(t, cl, "strict", -1, mutate(append([]byte(nil), good...)))
		if p.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("%s: error %d, want CORRUPT_MESSAGE", name, p.ErrorCode)
		}
	}
	if end := b.topics.partition("strict", 0).log.EndOffset(); end != 0 {
		t.Fatalf("corrupt batches appended: log end %d", end)
	}
	if p := produceRaw(t, cl, "strict", -1, good); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("the good batch: %+v", p)
	}
}

// TestCompressedBatchesStoredAsProduced produces with each codec and checks that the
// batch on disk keeps its compression, and that consumers read the records back.
func TestCompressedBatchesStoredAsProduced(t *testing.T) {
	b := startBroker(t, Config{})
	for name, tc := range map[string]struct {
		codec kgo.CompressionCodec
		attr  int
	}{"gzip": {kgo.GzipCompression(), 1}, "snappy": {kgo.SnappyCompression(), 2}, "lz4": {kgo.Lz4Compression(), 3}, "zstd": {kgo.ZstdCompression(), 4}} {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			createTopic(t, b.addr, topic, 1, nil)
			cl := newClient(t, b.addr, kgo.ProducerBatchCompression(tc.codec), kgo.ProducerLinger(100*time.Millisecond))
			var recs []*kgo.Record
			for i := range 50 {
				recs = append(recs, &kgo.Record{Topic: topic, Value: []byte("the same value, again and again " + string(rune('a'+i%26)))})
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			raw, err := b.topics.partition(topic, 0).log.Read(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			batch, err := plog.ParseBatch(raw)
			if err != nil {
				t.Fatal(err)
			}
			if batch.Compression() != tc.attr {
				t.Fatalf("batch on disk has compression %d, want %d", batch.Compression(), tc.attr)
			}
			got := consumeN(t, b.addr, topic, 50)
			for i, r := range got {
				if string(r.Value) != string(recs[i].Value) {
					t.Fatalf("record %d: %q", i, r.Value)
				}
			}
		})
	}
}

// TestFetchLimits checks a Fetch's byte limits (at least one batch however small the
// limit, as Kafka does; no more than max bytes otherwise) and that read_committed reads
// what read_uncommitted reads (no transactions here).
func TestFetchLimits(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "limits", 2, nil)
	cl := newClient(t, b.addr)
	batch := producerBatch(-1, -1, -1, 100) // one batch of 100 small records
	for range 10 {
		for part := range int32(2) {
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis = -1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "limits"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = part, append([]byte(nil), batch...)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			if resp, err := req.RequestWith(context.Background(), cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("produce: %v %+v", err, resp)
			}
		}
	}
	fetch := func(maxBytes, partMax int32, isolation int8) []int {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.IsolationLevel = -1, 0, 1, maxBytes, isolation
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "limits"
		for part := range int32(2) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = part, partMax
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
			sizes = append(sizes, len(p.RecordBatches))
		}
		return sizes
	}
	one := len(batch)
	for _, tc := range []struct {
		name      string
		max, pmax int32
		isolation int8
		want      []int
	}{
		{"everything", 1 << 20, 1 << 20, 0, []int{10 * one, 10 * one}},
		{"read committed", 1 << 20, 1 << 20, 1, []int{10 * one, 10 * one}},
		// As Kafka (KIP-74): only the first partition with data may exceed its limit,
		// so that the consumer makes progress; the others wait for their own fetch.
		{"partition max 1: one batch, first partition only", 1 << 20, 1, 0, []int{one, 0}},
		{"partition max 3.5 batches", 1 << 20, int32(3*one + one/2), 0, []int{3 * one, 3 * one}},
		{"max 5.5 batches across both", int32(5*one + one/2), 1 << 20, 0, []int{5 * one, 0}},
		{"max 1: the first batch anyway", 1, 1 << 20, 0, []int{one, 0}},
	} {
		got := fetch(tc.max, tc.pmax, tc.isolation)
		if len(got) != 2 || got[0] != tc.want[0] || got[1] != tc.want[1] {
			t.Errorf("%s: batch bytes per partition %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFlushIntervalSyncsAcks1 checks the timed half of the flush policy: records
// produced with acks=1 are not synced by the produce, and the flush loop syncs them.
func TestFlushIntervalSyncsAcks1(t *testing.T) {
	b := startBroker(t, Config{FlushInterval: 20 * time.Millisecond})
	createTopic(t, b.addr, "timed", 1, nil)
	cl := newClient(t, b.addr, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "timed", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	l := b.topics.partition("timed", 0).log
	waitFor(t, "the flush loop to sync the partition", func() bool { return !l.Dirty() })
}
