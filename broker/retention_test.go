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

// TestRetentionBySize sets retention.bytes on a topic of one-batch segments: retention
// deletes the oldest segments while what is left still holds retention.bytes, and no
// more.
func TestRetentionBySize(t *testing.T) {
	b := startBroker(t, Config{})
	limit, seg, forever := "3000", "1024", "-1"
	createTopic(t, b.addr, "sized", 1, map[string]*string{"retention.bytes": &limit, "segment.bytes": &seg, "retention.ms": &forever})
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		r := &kgo.Record{Topic: "sized", Value: make([]byte, 600)}
		r.Value[0] = byte(i)
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.RunRetention(time.Now())
	got := consumeAll(t, b.addr, "sized")
	// Each record is one batch of about 680 bytes, one per segment: 5 of them hold
	// 3000 bytes or more, 4 do not.
	if len(got) != 5 || got[0].Value[0] != 15 || got[4].Value[0] != 19 {
		first := -1
		if len(got) > 0 {
			first = int(got[0].Value[0])
		}
		t.Fatalf("%d records left (first %d), want the newest 5", len(got), first)
	}
}

// TestCompactionExpiresTombstones: on a compacted topic, a tombstone older than
// delete.retention.ms is removed with the values it deleted, a recent one stays (so
// that a consumer reading the topic later still learns of the delete), and keys
// never deleted keep their latest value.
func TestCompactionExpiresTombstones(t *testing.T) {
	b := startBroker(t, Config{})
	policy, seg, keep := "compact", "200", "3600000" // tombstones kept an hour
	createTopic(t, b.addr, "state", 1, map[string]*string{"cleanup.policy": &policy, "segment.bytes": &seg, "delete.retention.ms": &keep})
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	old, now := time.Now().Add(-3*time.Hour), time.Now()
	for _, r := range []*kgo.Record{
		{Key: []byte("gone"), Value: []byte("v1"), Timestamp: old},
		{Key: []byte("kept"), Value: []byte("v1"), Timestamp: old},
		{Key: []byte("late"), Value: []byte("v1"), Timestamp: old},
		{Key: []byte("gone"), Timestamp: old}, // tombstone, 3 h old: expires
		{Key: []byte("late"), Timestamp: now}, // tombstone, recent: stays
		{Key: []byte("kept"), Value: []byte("v2"), Timestamp: now},
		{Key: []byte("tail"), Value: []byte("v1"), Timestamp: now}, // the active segment
	} {
		r.Topic = "state"
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.RunRetention(time.Now())
	got := consumeAll(t, b.addr, "state")
	var seen []string
	for _, r := range got {
		v := string(r.Value)
		if r.Value == nil {
			v = "<tombstone>"
		}
		seen = append(seen, string(r.Key)+"="+v)
	}
	want := []string{"late=<tombstone>", "kept=v2", "tail=v1"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("after compaction: %v\nwant %v", seen, want)
	}
}
