package broker

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRequestFramesNotRetained auto-creates topics with big Produce requests: the
// names the broker keeps must be its own copies, not views into the request frames,
// or every topic would pin its first request (here about 2 MiB) in memory for good.
func TestRequestFramesNotRetained(t *testing.T) {
	b := startBroker(t, Config{AutoCreateTopics: true, MessageMaxBytes: 4 << 20})
	const topics = 12
	batch := producerBatch(-1, -1, -1, 256<<10) // 256 Ki one-byte records: about 2 MiB
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	c := rawConn(t, b.addr)
	for i := range topics {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(8)
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = fmt.Sprintf("pinned-%d", i)
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := exchange(t, c, req, int32(i)).(*kmsg.ProduceResponse)
		if resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce to %s: %+v", rt.Topic, resp)
		}
	}
	if n := len(b.topics.all()); n != topics {
		t.Fatalf("%d partitions, want %d", n, topics)
	}
	after := heap()
	if grown := int64(after) - int64(before); grown > topics*int64(len(batch))/2 {
		t.Fatalf("heap grew by %d MiB after %d topics were created by %d MiB requests: the frames are kept", grown>>20, topics, len(batch)>>20)
	}
}
