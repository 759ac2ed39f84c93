package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"gantry/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type testBroker struct {
	*Server
	addr string
	logs *testenv.Buffer
}

// startBroker runs a broker on a loopback port until the test ends.
func startBroker(t testing.TB, cfg Config) *testBroker {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	logs := &testenv.Buffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after the shutdown testenv.Serve does, so its log is whole
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	addr := testenv.Serve(t, s)
	return &testBroker{Server: s, addr: addr, logs: logs}
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, addr, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// consumeN reads n records from the start of topic, failing after a deadline.
func consumeN(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// consumeAll reads topic from its start up to the end offsets it has now (counting
// offsets, not records: retention and compaction leave gaps).
func consumeAll(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	ctx := context.Background()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{} // partition -> end, for partitions with records
	ends.Each(func(o kadm.ListedOffset) {
		if st, _ := starts.Lookup(topic, o.Partition); o.Offset > st.Offset {
			want[o.Partition] = o.Offset
		}
	})
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("consumed %d records; partitions %v not read to their ends", len(out), want)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		for _, r := range fs.Records() {
			out = append(out, r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		}
	}
	return out
}

func TestProduceConsumeInOrderByKey(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "orders", 3, nil)
	cl := newClient(t, b.addr, kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := context.Background()
	const n = 600
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "user-%d", i%10), Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The default partitioner routes a key as Kafka's Java client does (murmur2).
	part := kgo.StickyKeyPartitioner(nil).ForTopic("orders")
	got := consumeN(t, b.addr, "orders", n)
	lastByKey := map[string]int{}
	nextOffset := map[int32]int64{}
	for _, r := range got {
		want := part.Partition(&kgo.Record{Key: r.Key}, 3)
		if int(r.Partition) != want {
			t.Fatalf("key %s in partition %d, the partitioner says %d", r.Key, r.Partition, want)
		}
		if r.Offset != nextOffset[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, nextOffset[r.Partition])
		}
		nextOffset[r.Partition]++
		var v int
		fmt.Sscan(string(r.Value), &v)
		if prev, ok := lastByKey[string(r.Key)]; ok && v <= prev {
			t.Fatalf("key %s: value %d after %d", r.Key, v, prev)
		}
		lastByKey[string(r.Key)] = v
	}
	if len(got) != n || len(lastByKey) != 10 {
		t.Fatalf("%d records, %d keys", len(got), len(lastByKey))
	}
}

func TestFetchLongPolling(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "poll", 1, nil)
	cl := newClient(t, b.addr)
	ctx := context.Background()

	fetch := func(maxWait time.Duration) (*kmsg.FetchResponse, time.Duration, error) {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = int32(maxWait.Milliseconds())
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "poll"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp, err := req.RequestWith(ctx, cl)
		return resp, time.Since(start), err
	}

	// Nothing to read: the fetch waits out MaxWait and answers empty.
	resp, took, err := fetch(300 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if took < 250*time.Millisecond || len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("empty fetch answered after %v with %d bytes; want a wait of 300ms", took, len(resp.Topics[0].Partitions[0].RecordBatches))
	}

	// A fetch that waits for up to a minute returns as soon as a record arrives.
	type result struct {
		resp *kmsg.FetchResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, _, err := fetch(time.Minute)
		done <- result{r, err}
	}()
	p := b.topics.partition("poll", 0)
	waitFor(t, "the fetch to wait", func() bool {
		p.waitMu.Lock()
		defer p.waitMu.Unlock()
		return len(p.waiters) > 0
	})
	produced := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "poll", Value: []byte("wake up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatal("the fetch returned no records")
		}
		t.Logf("fetch answered %v after the produce began", time.Since(produced))
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch did not return when data arrived")
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI runs every package at once
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestApiVersionsTruthful(t *testing.T) {
	b := startBroker(t, Config{})
	cl := newClient(t, b.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ApiKeys) != len(apiVersions) {
		t.Fatalf("%d APIs answered, %d implemented", len(resp.ApiKeys), len(apiVersions))
	}
	flexible := 0
	for _, k := range resp.ApiKeys {
		v := apiVersions[kmsg.Key(k.ApiKey)]
		if v.min != k.MinVersion || v.max != k.MaxVersion {
			t.Errorf("%s: answered %d..%d, table %d..%d", kmsg.Key(k.ApiKey).Name(), k.MinVersion, k.MaxVersion, v.min, v.max)
		}
		r := kmsg.RequestForKey(k.ApiKey)
		r.SetVersion(k.MaxVersion)
		if r.IsFlexible() {
			flexible++
		}
		if k.MaxVersion > r.MaxVersion() {
			t.Errorf("%s: claims version %d, kmsg knows only %d", kmsg.Key(k.ApiKey).Name(), k.MaxVersion, r.MaxVersion())
		}
	}
	if flexible < 8 {
		t.Errorf("only %d APIs offer a flexible version", flexible)
	}
}

// rawRequest writes one frame on a fresh connection and returns the connection.
func rawConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	b := startBroker(t, Config{MaxRequestBytes: 1 << 20, MessageMaxBytes: 1 << 20})
	cases := map[string][]byte{
		"oversized frame":             {0x7f, 0xff, 0xff, 0xff},
		"negative size":               {0xff, 0xff, 0xff, 0xf0},
		"tiny frame":                  {0, 0, 0, 3, 1, 2, 3},
		"unknown api":                 append([]byte{0, 0, 0, 10, 0, 200, 0, 0, 0, 0, 0, 1}, 0xff, 0xff),
		"unsupported produce version": append([]byte{0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 1}, 0xff, 0xff),
		"garbled metadata body":       append([]byte{0, 0, 0, 14, 0, 3, 0, 5, 0, 0, 0, 1, 0xff, 0xff}, 0x7f, 0xff, 0xff, 0xff),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c := rawConn(t, b.addr)
			c.Write(frame)
			if _, err := io.ReadAll(c); err != nil {
				t.Fatalf("connection not closed cleanly: %v", err)
			}
		})
	}
	waitFor(t, "log lines about the bad requests", func() bool {
		return bytes.Count([]byte(b.logs.String()), []byte("closing connection")) >= len(cases)
	})
	// The broker goes on.
	adm := kadm.NewClient(newClient(t, b.addr))
	if _, err := adm.ListTopics(context.Background()); err != nil {
		t.Fatalf("broker unusable after bad frames: %v", err)
	}
}

func TestApiVersionsUnsupportedVersionAnswered(t *testing.T) {
	b := startBroker(t, Config{})
	c := rawConn(t, b.addr)
	// ApiVersions v99: the broker answers v0 with UNSUPPORTED_VERSION and its list.
	c.Write([]byte{0, 0, 0, 10, 0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff})
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(size[0])<<24|int(size[1])<<16|int(size[2])<<8|int(size[3]))
	io.ReadFull(c, body)
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != len(apiVersions) {
		t.Fatalf("error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestTopicAdministration(t *testing.T) {
	b := startBroker(t, Config{})
	adm := kadm.NewClient(newClient(t, b.addr))
	ctx := context.Background()
	ret := "3600000"
	if _, err := adm.CreateTopic(ctx, 4, 1, map[string]*string{"retention.ms": &ret}, "events"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		partitions int32
		repl       int16
		configs    map[string]*string
		want       error
	}{
		{"events", 1, 1, nil, kerr.TopicAlreadyExists},
		{"bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"..", 1, 1, nil, kerr.InvalidTopicException},
		{string(bytes.Repeat([]byte("x"), 250)), 1, 1, nil, kerr.InvalidTopicException},
		{"zero", 0, 1, nil, kerr.InvalidPartitions},
		{"repl", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"conf", 1, 1, map[string]*string{"no.such.config": &ret}, kerr.InvalidConfig},
		{"conf2", 1, 1, map[string]*string{"retention.ms": new(string)}, kerr.InvalidConfig},
	} {
		resp, err := adm.CreateTopic(ctx, tc.partitions, tc.repl, tc.configs, tc.name)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("create %.20q: %v, want %v", tc.name, err, tc.want)
		}
	}
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(details) != 1 || len(details["events"].Partitions) != 4 {
		t.Fatalf("topics: %v", details.Names())
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("events", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.MaybeValue() == "3600000" && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			found = true
		}
	}
	if !found {
		t.Errorf("retention.ms not described as set: %+v", rc.Configs)
	}
	if cp, err := adm.CreatePartitions(ctx, 2, "events"); err != nil || cp["events"].Err != nil {
		t.Fatal(err, cp["events"].Err)
	}
	details, err = kadm.NewClient(newClient(t, b.addr)).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(details["events"].Partitions) != 6 {
		t.Fatalf("%d partitions after adding 2", len(details["events"].Partitions))
	}
	if _, err := adm.DeleteTopics(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	details, err = kadm.NewClient(newClient(t, b.addr)).ListTopics(ctx)
	if err != nil || len(details) != 0 {
		t.Fatalf("topics after delete: %v", details.Names())
	}
	resp, _ := adm.DeleteTopics(ctx, "events")
	if err := resp["events"].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting a deleted topic: %v", err)
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, newClient(t, b.addr))
	if err != nil || dc.ClusterID != clusterID || len(dc.Brokers) != 1 || dc.Brokers[0].Port == 0 {
		t.Errorf("describe cluster: %+v %v", dc, err)
	}
}

func TestTopicsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	func() {
		b := startBroker(t, Config{Dir: dir})
		createTopic(t, b.addr, "kept", 2, nil)
		cl := newClient(t, b.addr)
		for i := 0; i < 10; i++ {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "kept", Partition: int32(i % 2), Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	}()
	b := startBroker(t, Config{Dir: dir})
	if got := consumeN(t, b.addr, "kept", 10); len(got) != 10 {
		t.Fatalf("%d records after restart", len(got))
	}
}

func TestAutoCreateOnlyWhenConfigured(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	off := startBroker(t, Config{})
	cl := newClient(t, off.addr, kgo.RecordDeliveryTimeout(time.Second), kgo.AllowAutoTopicCreation())
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "nope", Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produced to a missing topic with auto-create off")
	}
	if off.topics.get("nope") != nil {
		t.Fatal("topic created with auto-create off")
	}

	on := startBroker(t, Config{AutoCreateTopics: true, DefaultPartitions: 2})
	cl = newClient(t, on.addr, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "yes", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if tp := on.topics.get("yes"); tp == nil || len(tp.parts) != 2 {
		t.Fatal("topic not auto-created with 2 partitions")
	}
}

func TestListOffsets(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "times", 1, nil)
	cl := newClient(t, b.addr, kgo.ProducerLinger(0))
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "times", Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	start, _ := adm.ListStartOffsets(ctx, "times")
	end, _ := adm.ListEndOffsets(ctx, "times")
	if o, _ := start.Lookup("times", 0); o.Offset != 0 {
		t.Errorf("start %d", o.Offset)
	}
	if o, _ := end.Lookup("times", 0); o.Offset != 10 {
		t.Errorf("end %d", o.Offset)
	}
	at, err := adm.ListOffsetsAfterMilli(ctx, base.Add(4*time.Minute+time.Second).UnixMilli(), "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := at.Lookup("times", 0); o.Offset != 5 {
		t.Errorf("offset after minute 4: %d, want 5", o.Offset)
	}
}

func TestMessageTooLarge(t *testing.T) {
	b := startBroker(t, Config{MessageMaxBytes: 4096})
	createTopic(t, b.addr, "big", 1, nil)
	cl := newClient(t, b.addr, kgo.ProducerBatchMaxBytes(1<<20))
	value := make([]byte, 10000)
	rand.Read(value) // incompressible, whatever codec the client picks
	err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "big", Value: value}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("10 KB record against a 4 KiB limit: %v", err)
	}
}
