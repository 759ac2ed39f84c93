// Command load drives the broker benchmark (bench/broker/run.sh): the disk's own limits,
// franz-go producing to and consuming from a Kafka-protocol broker, and NATS JetStream
// publishing through nats.go, each printing one result line.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load disk|produce|consume|e2e|jetstream [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", os.TempDir(), "directory for the disk test")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap address")
	url := fs.String("url", nats.DefaultURL, "NATS URL")
	topic := fs.String("topic", "bench", "topic or stream")
	partitions := fs.Int("partitions", 4, "partitions of the topic (created when missing)")
	n := fs.Int("n", 200000, "records")
	size := fs.Int("size", 1024, "record size in bytes")
	acks := fs.String("acks", "all", "produce acks: all or leader")
	rate := fs.Int("rate", 10000, "records per second for e2e")
	dur := fs.Duration("duration", 10*time.Second, "length of the e2e run")
	sync := fs.Bool("sync", false, "jetstream: publish one message at a time, waiting for each ack")
	files := fs.Int("files", 1, "disk: files written side by side (as partitions)")
	chunk := fs.Int("chunk", 1<<20, "disk: bytes written to a file between two fsyncs of it")
	total := fs.Int("total", 512<<20, "disk: bytes written in all")
	split := fs.Bool("split", false, "e2e: also print where the time goes (a -split line; the hooks cost a little)")
	fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "disk":
		err = disk(*dir, *files, *chunk, *total)
	case "produce":
		err = produce(ctx, *brokers, *topic, *partitions, *n, *size, *acks)
	case "consume":
		err = consume(ctx, *brokers, *topic, *n, *size)
	case "e2e":
		err = e2e(ctx, *brokers, *topic, *partitions, *rate, *size, *dur, *acks, *split)
	case "jetstream":
		err = jetstreamPublish(ctx, *url, *topic, *n, *size, *sync)
	default:
		err = fmt.Errorf("unknown test %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// disk measures the disk's sequential write bandwidth the way the broker writes with
// acks=all: files (one per partition) appended side by side, each by its own
// goroutine, chunk bytes at a time, each chunk followed by an fsync of its file. With
// files=1 and 1 MiB chunks it is the classic "fsync every MiB" figure. Then the latency
// of a 4 KiB write followed by fsync.
func disk(dir string, files, chunk, total int) error {
	if files < 1 || chunk < 1 || total < chunk {
		return fmt.Errorf("disk: bad -files %d -chunk %d -total %d", files, chunk, total)
	}
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	per := total / files / chunk // chunks per file
	var wg sync.WaitGroup
	errs := make(chan error, files)
	start := time.Now()
	for range files {
		f, err := os.CreateTemp(dir, "disk-*.bench")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var off int64
			for range per {
				if _, err := f.WriteAt(buf, off); err != nil {
					errs <- err
					return
				}
				if err := f.Sync(); err != nil {
					errs <- err
					return
				}
				off += int64(chunk)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	written := float64(per*files*chunk) / 1e6
	row := "disk-seq-write"
	if files > 1 || chunk != 1<<20 {
		row = "disk-as-broker"
	}
	fmt.Printf("%s  %.1f MB/s (%.0f MB: %d file(s) side by side, fsync every %d KiB of each)\n", row, written/secs, written, files, chunk>>10)
	if row != "disk-seq-write" {
		return nil
	}

	g, err := os.CreateTemp(dir, "fsync-*.bench")
	if err != nil {
		return err
	}
	defer os.Remove(g.Name())
	defer g.Close()
	var lat []time.Duration
	for i := 0; i < 2000; i++ {
		t := time.Now()
		if _, err := g.Write(buf[:4096]); err != nil {
			return err
		}
		if err := g.Sync(); err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	fmt.Printf("disk-fsync  p50 %v p99 %v (4 KiB write + fsync, 2000 times)\n", lat[len(lat)/2], lat[len(lat)*99/100])
	return nil
}

func ensureTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int) error {
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		return err
	}
	return nil
}

// produce sends n records of size bytes as fast as franz-go goes with linger 5 ms
// and batches up to 1 MiB, without compression.
func produce(ctx context.Context, brokers, topic string, partitions, n, size int, acks string) error {
	opts := []kgo.Opt{kgo.SeedBrokers(brokers), kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1 << 20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(64 << 10), kgo.DefaultProduceTopic(topic)}
	if acks == "leader" {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := ensureTopic(ctx, cl, topic, partitions); err != nil {
		return err
	}
	value := make([]byte, size)
	var failed atomic.Int64
	var first atomic.Value
	var firstAck atomic.Int64 // ns from start to the first answered record: the ramp-up
	start := time.Now()
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			firstAck.CompareAndSwap(0, int64(time.Since(start)))
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if failed.Load() > 0 {
		return fmt.Errorf("%d records failed: %v", failed.Load(), first.Load())
	}
	fmt.Printf("produce-acks-%s  %.0f records/s  %.1f MB/s (%d records of %d B; %.2f s wall, first answer after %.0f ms; this client used %.2f s of CPU)\n",
		acks, float64(n)/secs, float64(n*size)/secs/1e6, n, size, secs, float64(firstAck.Load())/1e6, cpuSeconds())
	return nil
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// consume reads n records from the start of topic.
func consume(ctx context.Context, brokers, topic string, n, size int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(32<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	got, bytes := 0, 0
	start := time.Now()
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) { got++; bytes += len(r.Value) })
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("consume  %.0f records/s  %.1f MB/s (%d records of %d B)\n", float64(got)/secs, float64(bytes)/secs/1e6, got, size)
	return nil
}

// e2e produces at a fixed rate (linger 0) and measures, in a consumer, the time
// from handing each record to the producer to receiving it.
// splitHooks time the parts of the e2e path that franz-go's hooks can see: when each
// record reaches the consumer client (decoded from a Fetch answer, before the driver polls
// it), and how long the broker took to answer each Produce and Fetch request (from the
// request written to the answer's first byte read).
type splitHooks struct {
	mu       sync.Mutex
	arrived  []time.Duration // Produce() to the record buffered in the consumer client
	produce  []time.Duration // a Produce request's ReadWait
	fetch    []time.Duration // a Fetch request's ReadWait (long poll included)
	fetchGap []time.Duration // a Fetch answer read to the next Fetch written
	lastRead time.Time
}

func (h *splitHooks) OnFetchRecordBuffered(r *kgo.Record) {
	if len(r.Value) < 8 {
		return
	}
	if sent := int64(binary.BigEndian.Uint64(r.Value)); sent != 0 {
		d := time.Duration(time.Now().UnixNano() - sent)
		h.mu.Lock()
		h.arrived = append(h.arrived, d)
		h.mu.Unlock()
	}
}

func (h *splitHooks) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if e.Err() != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch key {
	case 0:
		h.produce = append(h.produce, e.ReadWait)
	case 1:
		h.fetch = append(h.fetch, e.ReadWait)
		// Each Fetch is written after the previous answer is decoded and polled: the gap
		// is the consumer client's and the driver's share.
		now := time.Now()
		written := now.Add(-e.TimeToRead - e.ReadWait)
		if !h.lastRead.IsZero() && written.After(h.lastRead) {
			h.fetchGap = append(h.fetchGap, written.Sub(h.lastRead))
		}
		h.lastRead = now
	}
}

// line prints the split's quantiles.
func (h *splitHooks) line(acks string, gcs uint32) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := func(d []time.Duration) string {
		if len(d) == 0 {
			return "-"
		}
		slices.Sort(d)
		at := func(f float64) time.Duration { return d[int(f*float64(len(d)-1))].Round(time.Microsecond) }
		return fmt.Sprintf("p50 %v p99 %v", at(0.5), at(0.99))
	}
	return fmt.Sprintf("e2e-acks-%s-split  in-consumer-client %s; produce-answer %s; fetch-answer %s; fetch-gap %s; driver GCs %d",
		acks, q(h.arrived), q(h.produce), q(h.fetch), q(h.fetchGap), gcs)
}

func e2e(ctx context.Context, brokers, topic string, partitions, rate, size int, dur time.Duration, acks string, split bool) error {
	var hooks *splitHooks
	if split {
		hooks = &splitHooks{}
	}
	// No linger (franz-go's default is 10 ms): the latency measured is the broker's and
	// the network's, not the client's batching delay.
	opts := []kgo.Opt{kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0)}
	if hooks != nil {
		opts = append(opts, kgo.WithHooks(hooks))
	}
	if acks == "leader" {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	prod, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer prod.Close()
	if err := ensureTopic(ctx, prod, topic, partitions); err != nil {
		return err
	}
	copts := []kgo.Opt{kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(time.Second)}
	if hooks != nil {
		copts = append(copts, kgo.WithHooks(hooks))
	}
	cons, err := kgo.NewClient(copts...)
	if err != nil {
		return err
	}
	defer cons.Close()
	// Wait until the consumer has its positions, so that no record is missed.
	warm, cancelWarm := context.WithTimeout(ctx, 500*time.Millisecond)
	cons.PollFetches(warm)
	cancelWarm()
	// Warm the producer up before the clock starts: its producer id, its connection,
	// and the five requests in flight it allows only once a first one is answered.
	// Without it, that start (100-200 ms on a busy machine, when records pile up
	// behind the one request in flight) lands in the p99 of a 10 s row. The warm-up
	// records (zero timestamps; 64 KiB at a time, so that the default partitioner
	// moves between partitions) are not counted.
	for range 8 {
		recs := make([]*kgo.Record, 64)
		for i := range recs {
			recs[i] = &kgo.Record{Value: make([]byte, size)}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	if hooks != nil { // the warm-up's requests are not counted
		hooks.mu.Lock()
		hooks.arrived, hooks.produce, hooks.fetch, hooks.fetchGap = nil, nil, nil, nil
		hooks.mu.Unlock()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcBefore := ms.NumGC
	total := int(float64(rate) * dur.Seconds())
	lat := make([]time.Duration, 0, total)
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		for {
			mu.Lock()
			if len(lat) >= total {
				mu.Unlock()
				done <- nil
				return
			}
			mu.Unlock()
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				done <- err
				return
			}
			now := time.Now().UnixNano()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if sent := int64(binary.BigEndian.Uint64(r.Value)); sent != 0 { // 0: warm-up
					lat = append(lat, time.Duration(now-sent))
				}
			})
			mu.Unlock()
		}
	}()
	interval := time.Second / time.Duration(rate)
	// ack: from Produce() to the producer's promise (the broker's answer, after its
	// fsync with acks=all), beside e2e's produce-to-consumer time: it tells the wait
	// for the answer from the wait for the fetch.
	ack := make([]time.Duration, 0, total)
	var ackMu sync.Mutex
	start := time.Now()
	for i := 0; i < total; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		v := make([]byte, size)
		sent := time.Now()
		binary.BigEndian.PutUint64(v, uint64(sent.UnixNano()))
		prod.Produce(ctx, &kgo.Record{Value: v}, func(*kgo.Record, error) {
			d := time.Since(sent)
			ackMu.Lock()
			ack = append(ack, d)
			ackMu.Unlock()
		})
	}
	if err := <-done; err != nil {
		return err
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	q := func(lat []time.Duration, f float64) time.Duration {
		return lat[int(f*float64(len(lat)-1))].Round(time.Microsecond)
	}
	slices.Sort(lat)
	slices.Sort(ack)
	fmt.Printf("e2e-acks-%s  p50 %v p99 %v (p90 %v, p99.9 %v, max %v; %d records/s for %v, %d B; producer's ack p50 %v p99 %v)\n",
		acks, q(lat, 0.5), q(lat, 0.99), q(lat, 0.9), q(lat, 0.999), q(lat, 1), rate, dur, size, q(ack, 0.5), q(ack, 0.99))
	if hooks != nil {
		runtime.ReadMemStats(&ms)
		fmt.Println(hooks.line(acks, ms.NumGC-gcBefore))
	}
	return nil
}

// jetstreamPublish publishes n messages of size bytes to a file-backed stream, either
// asynchronously (up to 4096 unacknowledged) or one at a time.
func jetstreamPublish(ctx context.Context, url, stream string, n, size int, sync bool) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	subject := stream + ".x"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
		return err
	}
	value := make([]byte, size)
	start := time.Now()
	mode := "async"
	if sync {
		mode = "sync"
		for i := 0; i < n; i++ {
			if _, err := js.Publish(ctx, subject, value); err != nil {
				return err
			}
		}
	} else {
		for i := 0; i < n; i++ {
			if _, err := js.PublishAsync(subject, value, jetstream.WithStallWait(30*time.Second)); err != nil {
				return err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return errors.New("jetstream: acks did not all arrive")
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("jetstream-%s  %.0f msgs/s  %.1f MB/s (%d messages of %d B)\n", mode, float64(n)/secs, float64(n*size)/secs/1e6, n, size)
	return nil
}
