package broker

import (
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	plog "gantry/broker/log"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAcksAllAnsweredAfterSync holds every fsync of the broker's logs while a producer
// has acks=all requests in flight on one connection (5, franz-go's limit), each to its
// own partition, as bench/broker's e2e producer sends them: no answer may come while the fsyncs are held, every answer
// comes once they finish, and each answered partition is then synced past its records.
// The syncs of the requests in flight start as soon as each is appended (not when the
// writer reaches it), so this also checks that starting them early does not let an
// answer out early.
func TestAcksAllAnsweredAfterSync(t *testing.T) {
	var held atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 64)
	b := startBroker(t, Config{FlushInterval: time.Hour, Log: plog.Config{OnSync: func(time.Duration) {
		// Called after each fsync returns and before the log counts it as done: a sync
		// held here is not finished for anyone waiting on it.
		held.Add(1)
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}}})
	released := false
	free := func() {
		if !released {
			released = true
			close(release)
		}
	}
	t.Cleanup(free) // before the broker's shutdown, which syncs the logs
	const parts, inFlight = 5, 5
	if _, err := b.topics.create("held", parts, nil, false); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, b.addr)
	batch := recordBatch(-1, -1, -1, 1, func(int) []byte { return make([]byte, 1024) })
	for i := range int32(inFlight) {
		if _, err := c.Write(sizedFrameOf(acksAllProduce("held", i%parts, batch), i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync started for acks=all requests in flight")
	}
	// With the fsyncs held, the connection must stay silent.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if answer, err := readFrame(c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an acks=all answer (%d bytes, err %v) came while every fsync was held", len(answer), err)
	}
	free()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	for i := range int32(inFlight) {
		answer, err := readFrame(c)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if corr := int32(binary.BigEndian.Uint32(answer[4:])); corr != i {
			t.Fatalf("answer %d has correlation id %d: answers out of order", i, corr)
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		if err := resp.ReadFrom(answer[9:]); err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("answer %d: partition %d error %d", i, p.Partition, p.ErrorCode)
		}
		if l := b.topics.partition("held", p.Partition).log; l.Dirty() {
			// One request per partition: once answered, it must be synced to its end.
			t.Errorf("answer %d: partition %d answered with unsynced records", i, p.Partition)
		}
	}
	if held.Load() == 0 {
		t.Error("no fsync observed")
	}
}

// TestAcksAllPartitionNamedTwice produces with acks=all a request that names one
// partition twice beside another: each entry gets its own offsets and is answered only
// once its partition is synced past both entries' records (the broker syncs each
// partition of a request once, to its last append).
func TestAcksAllPartitionNamedTwice(t *testing.T) {
	b := startBroker(t, Config{FlushInterval: time.Hour})
	if _, err := b.topics.create("twice", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "twice"
	for _, part := range []int32{0, 1, 0} {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = part, producerBatch(-1, -1, -1, 3)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := exchange(t, rawConn(t, b.addr), req, 7).(*kmsg.ProduceResponse)
	var bases []int64
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
		}
		bases = append(bases, p.BaseOffset)
	}
	if len(bases) != 3 || bases[0] != 0 || bases[1] != 0 || bases[2] != 3 {
		t.Fatalf("base offsets %v, want [0 0 3]", bases)
	}
	for part := range int32(2) {
		if l := b.topics.partition("twice", part).log; l.Dirty() || l.EndOffset() != [2]int64{6, 3}[part] {
			t.Errorf("partition %d: end %d, dirty %v after the acks=all answer", part, l.EndOffset(), l.Dirty())
		}
	}
}

// acksAllProduce is a Produce request (version 9, acks=all) of batch to one partition.
func acksAllProduce(topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
