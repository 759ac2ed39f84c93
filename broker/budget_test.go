package broker

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConnectionByteBudget: a connection whose unanswered requests hold its whole byte
// budget is not read further, so a client cannot make the broker buffer without bound.
// A long-polling fetch holds the budget; the CreateTopics behind it is read only when
// the fetch is answered.
func TestConnectionByteBudget(t *testing.T) {
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = -1, 1500, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "idle"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	create := kmsg.NewPtrCreateTopicsRequest()
	create.SetVersion(4)
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "behind", 1, 1
	create.Topics = append(create.Topics, ct)
	f1, f2 := frameOf(fetch, 1), frameOf(create, 2)

	b := startBroker(t, Config{MaxConnBytes: int64(len(f1) + len(f2) - 1)})
	createTopic(t, b.addr, "idle", 1, nil)
	c := rawConn(t, b.addr)
	for _, f := range [][]byte{f1, f2} {
		c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		c.Write(f)
	}
	p := b.topics.partition("idle", 0)
	waitFor(t, "the fetch to wait", func() bool {
		p.waitMu.Lock()
		defer p.waitMu.Unlock()
		return len(p.waiters) > 0
	})
	time.Sleep(300 * time.Millisecond) // room for a reader that ignored the budget
	if b.topics.get("behind") != nil {
		t.Fatal("the request behind a full budget was read and run")
	}
	waitFor(t, "the CreateTopics after the fetch's answer", func() bool { return b.topics.get("behind") != nil })
}
