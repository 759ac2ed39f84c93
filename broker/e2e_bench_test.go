package broker

import (
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	plog "gantry/broker/log"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkProduceToFetch is the broker's share of bench/broker's e2e row, without the
// client library: one connection keeps a long-polling Fetch of the
// topic's 4 partitions outstanding (as franz-go's consumer does, max wait 1 s, min 1
// byte), another produces one 1 KiB record at a time with acks=all, to the partitions in
// turn. An op is one record, from writing its Produce to reading the Fetch answer that
// carries it, then its Produce answer; fetched-p50-ns and fetched-p99-ns are the first
// part alone (what a consumer sees: records are readable before their fsync). "tmpfs" keeps the log in
// /dev/shm (when there is one), where the fsync is a system call and no disk: the broker's
// path per record (the produce's parse and append, the fetch's wake-up, read and write,
// the produce's sync and answer, and the hand-offs between their goroutines). "disk" puts
// it under the test's temporary directory: its fetched-* figures show whether the fetch
// waits behind the fsync it should not need.
func BenchmarkProduceToFetch(b *testing.B) { onTmpfsAndDisk(b, benchProduceToFetch) }

// onTmpfsAndDisk runs bench twice: with its directory in tmpfs (tmpfsDir) and under the
// test's temporary directory, on the disk.
func onTmpfsAndDisk(b *testing.B, bench func(b *testing.B, dir string)) {
	b.Run("tmpfs", func(b *testing.B) { bench(b, tmpfsDir(b)) })
	b.Run("disk", func(b *testing.B) { bench(b, b.TempDir()) })
}

// tmpfsDir returns a new directory in /dev/shm, where an fsync is a system call and no
// disk, removed after the benchmark; or the test's temporary directory where there is no
// /dev/shm.
func tmpfsDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "gantry-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func benchProduceToFetch(b *testing.B, dir string) {
	br := startBroker(b, Config{Dir: dir})
	const parts = 4
	if _, err := br.topics.create("bench", parts, nil, false); err != nil {
		b.Fatal(err)
	}
	prod, cons := rawConn(b, br.addr), rawConn(b, br.addr)
	prod.SetDeadline(time.Time{}) // a run may outlast rawConn's 10 s; the test's timeout still holds
	cons.SetDeadline(time.Time{})
	value := make([]byte, 1024)
	batch := recordBatch(-1, -1, -1, 1, func(int) []byte { return value })
	var offsets [parts]int64
	fetchFrame := func(corr int32) []byte {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 1000, 1, 50<<20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "bench"
		for i := range int32(parts) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = i, offsets[i], 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return sizedFrameOf(req, corr)
	}
	produceFrame := func(part int32, corr int32) []byte {
		return sizedFrameOf(acksAllProduce("bench", part, batch), corr)
	}
	// The frames are built before the clock runs: only the broker's work is timed.
	var frames [parts][]byte
	for i := range frames {
		frames[i] = produceFrame(int32(i), int32(i))
	}
	fetchReq := kmsg.NewPtrFetchRequest()
	fetchReq.SetVersion(12)
	readFetchAnswer := func() {
		answer, err := readFrame(cons)
		if err != nil {
			b.Fatal(err)
		}
		resp := fetchReq.ResponseKind().(*kmsg.FetchResponse)
		if err := resp.ReadFrom(answer[9:]); err != nil {
			b.Fatal(err)
		}
		got := false
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				b.Fatalf("fetch partition %d: error %d", p.Partition, p.ErrorCode)
			}
			if len(p.RecordBatches) > 0 {
				offsets[p.Partition]++ // one record per batch, one batch per fetch
				got = true
			}
		}
		if !got {
			b.Fatal("fetch answered without the record")
		}
	}
	produceReq := kmsg.NewPtrProduceRequest()
	produceReq.SetVersion(9)
	if _, err := cons.Write(fetchFrame(0)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	i := 0
	var toFetch []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := prod.Write(frames[i%parts]); err != nil {
			b.Fatal(err)
		}
		readFetchAnswer()
		toFetch = append(toFetch, time.Since(start))
		b.StopTimer() // the client's encoding is not the broker's work
		next := fetchFrame(int32(i + 1))
		b.StartTimer()
		if _, err := cons.Write(next); err != nil {
			b.Fatal(err)
		}
		readProduceAnswer(b, prod, produceReq)
		i++
	}
	slices.Sort(toFetch)
	b.ReportMetric(float64(toFetch[len(toFetch)/2].Nanoseconds()), "fetched-p50-ns")
	b.ReportMetric(float64(toFetch[len(toFetch)*99/100].Nanoseconds()), "fetched-p99-ns")
}

// BenchmarkProduceSmallPipelined sends acks=all Produce requests as bench/broker's e2e
// producer does at 10,000 records/s with no linger: one 1 KiB record per request, each
// to the next of 4 partitions, 5 requests in flight (franz-go's limit when idempotent).
// An op is one request answered, fsync included: with the log on the disk ("disk", under
// the test's temporary directory) it shows how the syncs of requests in flight on one
// connection overlap; "tmpfs" is the same without the disk. fsyncs/op is the fsyncs
// run per request answered (below 1: group commit).
func BenchmarkProduceSmallPipelined(b *testing.B) {
	onTmpfsAndDisk(b, benchProduceSmallPipelined)
}

func benchProduceSmallPipelined(b *testing.B, dir string) {
	var fsyncs atomic.Int64
	br := startBroker(b, Config{Dir: dir, FlushInterval: time.Hour,
		Log: plog.Config{OnSync: func(time.Duration) { fsyncs.Add(1) }}})
	const parts, inFlight = 4, 5
	if _, err := br.topics.create("bench", parts, nil, false); err != nil {
		b.Fatal(err)
	}
	c := rawConn(b, br.addr)
	c.SetDeadline(time.Time{})
	value := make([]byte, 1024)
	batch := recordBatch(-1, -1, -1, 1, func(int) []byte { return value })
	var frames [parts][]byte
	for i := range frames {
		frames[i] = sizedFrameOf(acksAllProduce("bench", int32(i), batch), int32(i))
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	sent := 0
	for ; sent < inFlight-1; sent++ {
		if _, err := c.Write(frames[sent%parts]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	synced, n := fsyncs.Load(), 0
	for b.Loop() {
		if _, err := c.Write(frames[sent%parts]); err != nil {
			b.Fatal(err)
		}
		sent++
		readProduceAnswer(b, c, req)
		n++
	}
	b.StopTimer()
	// How many requests one fsync answers: group commit, against the overlap.
	b.ReportMetric(float64(fsyncs.Load()-synced)/float64(n), "fsyncs/op")
	for range inFlight - 1 {
		readProduceAnswer(b, c, req)
	}
}
