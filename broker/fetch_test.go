package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConcurrentFetchesKeepTheirData runs consumers side by side with small fetches,
// so that read buffers go back to the pool and are reused all the time: every
// consumer must still get every record intact (franz-go checks each batch's CRC) and
// in order.
func TestConcurrentFetchesKeepTheirData(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "pooled", 2, nil)
	const n = 3000
	cl := newClient(t, b.addr, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < n; i += 100 {
		var recs []*kgo.Record
		for j := i; j < i+100; j++ {
			recs = append(recs, &kgo.Record{Topic: "pooled", Partition: int32(j % 2), Value: fmt.Appendf(nil, "%d:%0400d", j, j)})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics("pooled"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(4<<10), kgo.FetchMaxBytes(8<<10))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			next := [2]int{0, 1} // the next value expected on each partition
			for got := 0; got < n; {
				fs := c.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					errs <- fmt.Errorf("after %d records: %w", got, err)
					return
				}
				for _, r := range fs.Records() {
					if want := fmt.Sprintf("%d:%0400d", next[r.Partition], next[r.Partition]); string(r.Value) != want {
						errs <- fmt.Errorf("partition %d offset %d: got %.20q…, want %.20q…", r.Partition, r.Offset, r.Value, want)
						return
					}
					next[r.Partition] += 2
					got++
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkReadFetch reads a Fetch of 4 partitions, 1 MiB each, as a consumer catching
// up asks, with the read buffers pooled (as the server does) and without.
func BenchmarkReadFetch(b *testing.B) {
	s, err := New(Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if _, err := s.topics.create("bench", 4, nil, false); err != nil {
		b.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes = 8 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "bench"
	for i := range int32(4) {
		p := s.topics.partition("bench", i)
		for range 128 { // about 1 MiB: 128 batches of 1024 one-byte records
			if _, _, code := p.append(producerBatch(-1, -1, -1, 1024)); code != 0 {
				b.Fatalf("append: error %d", code)
			}
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = i, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for _, pooled := range []bool{false, true} {
		b.Run(fmt.Sprintf("pooled=%v", pooled), func(b *testing.B) {
			var bufs *fetchBufs
			if pooled {
				bufs = &fetchBufs{pool: &s.readBufs}
			}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				_, n, _ = s.readFetch(req, bufs)
				if bufs != nil {
					bufs.release()
				}
			}
			b.SetBytes(int64(n))
		})
	}
}
