package group

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// slowSync makes the offsets log's fsyncs wait for release, and reports each one that
// starts on entered. Undo runs release for a test that fails midway.
type slowSync struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func blockSyncs(t *testing.T, c *Coordinator) *slowSync {
	b := &slowSync{entered: make(chan struct{}, 100), release: make(chan struct{})}
	c.offsets.syncFile = func(f *os.File) error {
		b.entered <- struct{}{}
		<-b.release
		return f.Sync()
	}
	t.Cleanup(b.open)
	return b
}

func (b *slowSync) open() { b.once.Do(func() { close(b.release) }) }

func commitReq(group, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.SetVersion(8)
	r.Group, r.Generation = group, -1
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = partition, offset
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	return r
}

// commitAsync runs Commit in a goroutine; the channel gets its error code.
func commitAsync(c *Coordinator, r *kmsg.OffsetCommitRequest) <-chan int16 {
	ch := make(chan int16, 1)
	go func() { ch <- c.Commit(r).Topics[0].Partitions[0].ErrorCode }()
	return ch
}

func fetched(c *Coordinator, group, topic string, partition int32) int64 {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.SetVersion(5)
	r.Group = group
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{partition}}}
	return c.Fetch(r).Topics[0].Partitions[0].Offset
}

// within runs f and fails the test if it has not returned by the deadline (it then
// keeps running until the test's cleanup releases what blocks it).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s not answered while an offset commit's fsync was in progress", what)
	}
}

// TestGroupRequestsGoOnDuringOffsetSync holds an offset commit's fsync and checks that
// a heartbeat, another group's join and an offset fetch are answered meanwhile, and
// that the commit itself is answered only after its fsync, with its offset visible.
func TestGroupRequestsGoOnDuringOffsetSync(t *testing.T) {
	c := openTest(t)
	a := recv(t, c.Join(joinReq("", "ia"), "client-a", "/127.0.0.1"))
	recv(t, c.Sync(syncReq(a.MemberID, a.Generation, map[string]string{a.MemberID: "all"})))

	b := blockSyncs(t, c)
	commit := commitAsync(c, commitReq("other", "t", 0, 42))
	recv(t, b.entered)

	within(t, "heartbeat", func() {
		if code := heartbeat(c, a.MemberID, a.Generation, "ia"); code != 0 {
			t.Errorf("heartbeat: error %d", code)
		}
	})
	within(t, "another group's join", func() {
		r := joinReq("", "")
		r.SetVersion(3) // no MEMBER_ID_REQUIRED round
		r.Group = "h"
		if resp := <-c.Join(r, "client-h", "/127.0.0.1"); resp.ErrorCode != 0 {
			t.Errorf("join: error %d", resp.ErrorCode)
		}
	})
	within(t, "offset fetch", func() {
		if o := fetched(c, "other", "t", 0); o != -1 {
			t.Errorf("offset %d visible before its fsync finished", o)
		}
	})
	select {
	case code := <-commit:
		t.Fatalf("commit answered (error %d) before its fsync finished", code)
	default:
	}

	b.open()
	if code := recv(t, commit); code != 0 {
		t.Fatalf("commit: error %d", code)
	}
	if o := fetched(c, "other", "t", 0); o != 42 {
		t.Fatalf("fetched %d after the commit, want 42", o)
	}
}

// TestConcurrentCommitsShareFsync holds one commit's fsync while 20 more arrive, and
// checks they are all made durable by one more fsync, that the last commit of a
// partition wins, and that everything survives a restart.
func TestConcurrentCommitsShareFsync(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Config{Dir: dir, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	b := blockSyncs(t, c)
	first := commitAsync(c, commitReq("g", "t", 0, 1))
	recv(t, b.entered)

	const n = 20
	var answers []<-chan int16
	for i := range n {
		answers = append(answers, commitAsync(c, commitReq("g", "t", int32(1+i), int64(100+i))))
	}
	waitPending(t, c, n)
	// Two more commits of the partition being synced, one after the other, in the
	// same batch: the last must win, in memory and on replay.
	later := commitAsync(c, commitReq("g", "t", 0, 2))
	waitPending(t, c, n+1)
	last := commitAsync(c, commitReq("g", "t", 0, 3))
	waitPending(t, c, n+2)

	b.open()
	for _, ch := range append(answers, first, later, last) {
		if code := recv(t, ch); code != 0 {
			t.Fatalf("commit: error %d", code)
		}
	}
	c.offsets.mu.Lock()
	syncs := c.offsets.syncs
	c.offsets.mu.Unlock()
	if syncs != 2 {
		t.Fatalf("%d fsyncs for %d commits, want 2 (the first, then one shared)", syncs, n+3)
	}

	want := map[int32]int64{0: 3}
	for i := range n {
		want[int32(1+i)] = int64(100 + i)
	}
	check := func(when string) {
		t.Helper()
		for p, o := range want {
			if got := fetched(c, "g", "t", p); got != o {
				t.Fatalf("%s: partition %d at %d, want %d", when, p, got, o)
			}
		}
	}
	check("before restart")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err = Open(Config{Dir: dir, Logger: discard()}); err != nil {
		t.Fatal(err)
	}
	check("after restart")
}

// TestCloseWritesPendingCommits closes the coordinator while a commit waits behind an
// fsync: it is still written and answered, and survives the restart.
func TestCloseWritesPendingCommits(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Config{Dir: dir, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	b := blockSyncs(t, c)
	first := commitAsync(c, commitReq("g", "t", 0, 1))
	recv(t, b.entered)
	second := commitAsync(c, commitReq("g", "t", 0, 7))
	waitPending(t, c, 1)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	b.open()
	if err := recv(t, closed); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan int16{first, second} {
		if code := recv(t, ch); code != 0 {
			t.Fatalf("commit: error %d", code)
		}
	}
	c, err = Open(Config{Dir: dir, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := fetched(c, "g", "t", 0); got != 7 {
		t.Fatalf("after restart: offset %d, want 7", got)
	}
}

// waitPending polls until n entries wait for the next fsync.
func waitPending(t *testing.T, c *Coordinator, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.offsets.mu.Lock()
		k := len(c.offsets.pending)
		c.offsets.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commits pending, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}
