package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchFrameMatchesKmsg checks the copy-free Fetch encoder byte for byte against
// kmsg's, for every Fetch version the broker offers.
func TestFetchFrameMatchesKmsg(t *testing.T) {
	for v := apiVersions[kmsg.Fetch].min; v <= apiVersions[kmsg.Fetch].max; v++ {
		r := kmsg.NewPtrFetchResponse()
		r.Version, r.ThrottleMillis, r.SessionID = v, 7, 0
		for ti, name := range []string{"a", "topic-b"} {
			ft := kmsg.FetchResponseTopic{Topic: name}
			for pi := 0; pi < 3; pi++ {
				p := kmsg.NewFetchResponseTopicPartition()
				p.Partition, p.HighWatermark, p.LastStableOffset, p.LogStartOffset = int32(pi), 100, 100, 3
				switch (ti + pi) % 3 {
				case 0:
					p.RecordBatches = bytes.Repeat([]byte{byte(pi + 1)}, 300+pi)
				case 1:
					p.RecordBatches = []byte{}
				case 2:
					p.ErrorCode = 1
				}
				ft.Partitions = append(ft.Partitions, p)
			}
			r.Topics = append(r.Topics, ft)
		}
		hdr := []byte{9, 9, 9, 9}
		bufs, ok := fetchFrame(append([]byte(nil), hdr...), r)
		if !ok {
			t.Fatalf("v%d: not encodable", v)
		}
		var got []byte
		for _, b := range bufs {
			got = append(got, b...)
		}
		want := r.AppendTo(append([]byte(nil), hdr...))
		if !bytes.Equal(got, want) {
			t.Fatalf("v%d: encodings differ\n got %x\nwant %x", v, got, want)
		}
	}
	// Aborted transactions are outside the fast path.
	r := kmsg.NewPtrFetchResponse()
	r.Version = 12
	p := kmsg.NewFetchResponseTopicPartition()
	p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{}}
	r.Topics = []kmsg.FetchResponseTopic{{Topic: "x", Partitions: []kmsg.FetchResponseTopicPartition{p}}}
	if _, ok := fetchFrame(nil, r); ok {
		t.Fatal("encoded aborted transactions")
	}
}
