package broker

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	plog "gantry/broker/log"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchProduce is a Produce request as bench/broker's producer sends it: topic "bench",
// 4 partitions with a batch of 1 MiB of 1 KiB records each. It is encoded once, with its
// size prefix, so that the client's work stays out of the allocations reported; bytes is
// the records' size, for b.SetBytes.
func benchProduce(acks int16) (req *kmsg.ProduceRequest, frame []byte, bytes int64) {
	value := make([]byte, 1024)
	batch := recordBatch(-1, -1, -1, 1000, func(int) []byte { return value })
	req = kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	for i := range int32(4) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = i, batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	frame = frameOf(req, 1)
	frame = append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
	return req, frame, int64(4 * len(batch))
}

// readProduceAnswer reads one answer to req from c and fails on any partition's error.
func readProduceAnswer(b *testing.B, c net.Conn, req *kmsg.ProduceRequest) {
	answer, err := readFrame(c)
	if err != nil {
		b.Fatal(err)
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(answer[9:]); err != nil { // size, correlation id, tags
		b.Fatal(err)
	}
	for _, p := range resp.(*kmsg.ProduceResponse).Topics[0].Partitions {
		if p.ErrorCode != 0 {
			b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
		}
	}
}

// BenchmarkProducePipelined sends acks=all Produce requests as franz-go does to a broker
// that speaks Produce v4 or later: 4 partitions with a batch of 1 MiB each, 5 requests
// in flight; the log is on the disk under the test's temporary directory. An op is one
// request answered; it measures the disk (and whatever else uses it) as much as the
// broker, so compare runs taken together.
func BenchmarkProducePipelined(b *testing.B) {
	var fsyncs atomic.Int64
	br := startBroker(b, Config{FlushInterval: time.Hour, Log: plog.Config{OnSync: func(time.Duration) { fsyncs.Add(1) }}})
	if _, err := br.topics.create("bench", 4, nil, false); err != nil {
		b.Fatal(err)
	}
	c := rawConn(b, br.addr)
	req, frame, n := benchProduce(-1)
	const inFlight = 5
	for range inFlight - 1 {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(n)
	b.ReportAllocs()
	synced, ops := fsyncs.Load(), 0
	for b.Loop() {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		readProduceAnswer(b, c, req)
		ops++
	}
	b.StopTimer()
	b.ReportMetric(float64(fsyncs.Load()-synced)/float64(ops), "fsyncs/op") // of the 4 partitions' files
	for range inFlight - 1 {
		if _, err := readFrame(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProduce sends Produce requests as bench/broker's producer does (4 partitions,
// a batch of 1 MiB of 1 KiB records each) over loopback to a real broker, with acks=1
// and the log in tmpfs (/dev/shm, when there is one) so that the disk stays out of it:
// the broker's CPU per request (reading the frame, checking CRCs, writing to the page
// cache, answering).
func BenchmarkProduce(b *testing.B) {
	br := startBroker(b, Config{Dir: tmpfsDir(b)})
	if _, err := br.topics.create("bench", 4, nil, false); err != nil {
		b.Fatal(err)
	}
	c := rawConn(b, br.addr)
	req, frame, n := benchProduce(1)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		readProduceAnswer(b, c, req)
	}
}
