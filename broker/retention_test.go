package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRetentionRemovesOnlyOldSegments(t *testing.T) {
	b := startBroker(t, Config{})
	ms, seg := "3600000", "1024"
	createTopic(t, b.addr, "aging", 1, map[string]*string{"retention.ms": &ms, "segment.bytes": &seg})
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	old := time.Now().Add(-3 * time.Hour)
	for i := 0; i < 20; i++ {
		ts := old
		if i >= 10 {
			ts = time.Now()
		}
		r := &kgo.Record{Topic: "aging", Value: make([]byte, 600), Timestamp: ts}
		r.Value[0] = byte(i)
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.RunRetention(time.Now())
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, "aging")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("aging", 0); o.Offset != 10 {
		t.Fatalf("log starts at %d after retention, want 10 (the first recent record)", o.Offset)
	}
	got := consumeAll(t, b.addr, "aging")
	if len(got) != 10 || got[0].Value[0] != 10 {
		t.Fatalf("%d records left, first %d", len(got), got[0].Value[0])
	}
}

func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	for name, codec := range map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "snappy": kgo.SnappyCompression(), "zstd": kgo.ZstdCompression()} {
		t.Run(name, func(t *testing.T) {
			b := startBroker(t, Config{})
			policy, seg := "compact", "200"
			createTopic(t, b.addr, "state", 1, map[string]*string{"cleanup.policy": &policy, "segment.bytes": &seg})
			cl := newClient(t, b.addr, kgo.ProducerBatchCompression(codec))
			ctx := context.Background()
			// 5 keys written 4 times each, one record per produce (one batch each).
			for round := 0; round < 4; round++ {
				for k := 0; k < 5; k++ {
					r := &kgo.Record{Topic: "state", Key: fmt.Appendf(nil, "key%d", k), Value: fmt.Appendf(nil, "v%d", round)}
					if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			}
			// key0 is deleted: its tombstone is recent, so it stays for now.
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "state", Key: []byte("key0")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			b.RunRetention(time.Now())
			got := consumeAll(t, b.addr, "state")
			final := map[string]string{}
			for _, r := range got {
				final[string(r.Key)] = string(r.Value)
			}
			want := map[string]string{"key0": "", "key1": "v3", "key2": "v3", "key3": "v3", "key4": "v3"}
			if fmt.Sprint(final) != fmt.Sprint(want) {
				t.Fatalf("latest values %v, want %v", final, want)
			}
			if len(got) > 6 {
				t.Fatalf("%d records after compaction, want at most 6 (one per key, plus the active segment's)", len(got))
			}
		})
	}
}
