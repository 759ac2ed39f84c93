package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupConsumer consumes in a group, committing synchronously after each poll, and
// records what it saw.
type groupConsumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   []*kgo.Record
}

func startGroupConsumer(t *testing.T, addr, group, topic string, balancer kgo.GroupBalancer) *groupConsumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.HeartbeatInterval(100*time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(balancer))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gc := &groupConsumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			recs := cl.PollFetches(pctx).Records()
			pcancel()
			gc.mu.Lock()
			gc.seen = append(gc.seen, recs...)
			gc.mu.Unlock()
			// Commit what was polled; one that fails during a rebalance is retried on
			// the next round, and what it covered may be read again by another member.
			cl.CommitUncommittedOffsets(ctx)
		}
	}()
	t.Cleanup(gc.stop)
	return gc
}

func (gc *groupConsumer) stop() {
	gc.cancel()
	<-gc.done
	gc.cl.Close() // leaves the group
}

func (gc *groupConsumer) records() []*kgo.Record {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return append([]*kgo.Record(nil), gc.seen...)
}

func produceN(t *testing.T, addr, topic string, from, n int) {
	t.Helper()
	cl := newClient(t, addr)
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestConsumerGroupRebalanceAndResume runs a group of three consumers, makes one
// leave, and checks that the other two take over its partitions from the offsets it
// committed, with each of the client-side assignors.
func TestConsumerGroupRebalanceAndResume(t *testing.T) {
	for name, balancer := range map[string]kgo.GroupBalancer{
		"cooperative-sticky": kgo.CooperativeStickyBalancer(),
		"range":              kgo.RangeBalancer(),
		"roundrobin":         kgo.RoundRobinBalancer(),
	} {
		t.Run(name, func(t *testing.T) { testRebalanceAndResume(t, balancer) })
	}
}

func testRebalanceAndResume(t *testing.T, balancer kgo.GroupBalancer) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "work", 6, nil)
	adm := kadm.NewClient(newClient(t, b.addr))
	ctx := context.Background()
	produceN(t, b.addr, "work", 0, 300)

	members := []*groupConsumer{
		startGroupConsumer(t, b.addr, "workers", "work", balancer),
		startGroupConsumer(t, b.addr, "workers", "work", balancer),
		startGroupConsumer(t, b.addr, "workers", "work", balancer),
	}
	distinct := func(gcs ...*groupConsumer) map[string]bool {
		m := map[string]bool{}
		for _, gc := range gcs {
			for _, r := range gc.records() {
				m[string(r.Value)] = true
			}
		}
		return m
	}
	waitFor(t, "the group to consume the first 300 records", func() bool { return len(distinct(members...)) == 300 })
	stableWith := func(n int) func() bool {
		return func() bool {
			dg, err := adm.DescribeGroups(ctx, "workers")
			return err == nil && dg["workers"].State == "Stable" && len(dg["workers"].Members) == n
		}
	}
	waitFor(t, "a stable group of 3", stableWith(3))
	waitFor(t, "offsets committed up to 50 on each partition", func() bool {
		committed, err := adm.FetchOffsets(ctx, "workers")
		if err != nil {
			return false
		}
		total := int64(0)
		committed.Each(func(o kadm.OffsetResponse) { total += o.At })
		return total == 300
	})
	var before kadm.DescribedGroups
	waitFor(t, "a stable group of 3 to describe", func() bool {
		before, _ = adm.DescribeGroups(ctx, "workers")
		return stableWith(3)() && before["workers"].State == "Stable"
	})

	// One member leaves; the other two rebalance and take its partitions.
	members[2].stop()
	var after kadm.DescribedGroups
	waitFor(t, "a stable group of 2", func() bool {
		after, _ = adm.DescribeGroups(ctx, "workers")
		return after["workers"].State == "Stable" && len(after["workers"].Members) == 2
	})
	if after["workers"].Protocol != before["workers"].Protocol || after["workers"].Protocol != balancer.ProtocolName() {
		t.Errorf("protocol %q then %q, want %q", before["workers"].Protocol, after["workers"].Protocol, balancer.ProtocolName())
	}
	seenBefore := len(members[0].records()) + len(members[1].records())
	produceN(t, b.addr, "work", 300, 300)
	waitFor(t, "the two members to consume the next 300", func() bool {
		return len(distinctOf(members[0], members[1], 300, 600)) == 300
	})
	parts := map[int32]bool{}
	for _, gc := range members[:2] {
		recs := gc.records()
		for _, r := range recs {
			var v int
			fmt.Sscan(string(r.Value), &v)
			if v >= 300 {
				parts[r.Partition] = true
			}
		}
	}
	if len(parts) != 6 {
		t.Errorf("after the rebalance the two members read %d partitions, want all 6", len(parts))
	}
	// Nothing committed before was read again.
	newRecs := len(members[0].records()) + len(members[1].records()) - seenBefore
	if newRecs != 300 {
		t.Errorf("the two members read %d records after the rebalance, want exactly the 300 new ones", newRecs)
	}
}

// distinctOf counts the distinct values in [lo, hi) the consumers saw.
func distinctOf(a, b *groupConsumer, lo, hi int) map[int]bool {
	m := map[int]bool{}
	for _, gc := range []*groupConsumer{a, b} {
		for _, r := range gc.records() {
			var v int
			fmt.Sscan(string(r.Value), &v)
			if v >= lo && v < hi {
				m[v] = true
			}
		}
	}
	return m
}

func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{Dir: dir})
	createTopic(t, b.addr, "t", 2, nil)
	adm := kadm.NewClient(newClient(t, b.addr))
	ctx := context.Background()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: 17, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "t", Partition: 1, At: 4, LeaderEpoch: -1, Metadata: "note"})
	if resp, err := adm.CommitOffsets(ctx, "standalone", offs); err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b.Shutdown(sctx)

	b = startBroker(t, Config{Dir: dir})
	adm = kadm.NewClient(newClient(t, b.addr))
	got, err := adm.FetchOffsets(ctx, "standalone")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("t", 0); o.At != 17 {
		t.Errorf("partition 0 committed %d after restart, want 17", o.At)
	}
	if o, _ := got.Lookup("t", 1); o.At != 4 || o.Metadata != "note" {
		t.Errorf("partition 1 committed %d %q after restart", o.At, o.Metadata)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups after restart: %v %v", groups, err)
	}
	if resp, err := adm.DeleteGroups(ctx, "standalone"); err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	got, _ = adm.FetchOffsets(ctx, "standalone")
	if o, ok := got.Lookup("t", 0); ok && o.At >= 0 {
		t.Errorf("offsets still there after DeleteGroups: %+v", o)
	}
}

func TestSessionTimeoutRemovesSilentMember(t *testing.T) {
	b := startBroker(t, Config{GroupMinSession: 50 * time.Millisecond})
	cl := newClient(t, b.addr)
	ctx := context.Background()
	join := kmsg.NewPtrJoinGroupRequest()
	// Long enough that the heartbeats below arrive in time on a loaded machine.
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "quiet", 1500, 1500
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}
	// KIP-394: the first join gets a member id and MEMBER_ID_REQUIRED; the second,
	// with that id, joins.
	jr, err := join.RequestWith(ctx, cl)
	if err != nil || jr.ErrorCode != kerr.MemberIDRequired.Code || jr.MemberID == "" {
		t.Fatalf("first join: %+v %v", jr, err)
	}
	join.MemberID = jr.MemberID
	jr, err = join.RequestWith(ctx, cl)
	if err != nil || jr.ErrorCode != 0 || jr.LeaderID != jr.MemberID || jr.MemberID != join.MemberID {
		t.Fatalf("join: %+v %v", jr, err)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "quiet", jr.Generation, jr.MemberID
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("mine")}}
	sr, err := sync.RequestWith(ctx, cl)
	if err != nil || sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" {
		t.Fatalf("sync: %+v %v", sr, err)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = "quiet", jr.Generation, jr.MemberID
	if r, err := hb.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
		t.Fatalf("heartbeat: %+v %v", r, err)
	}
	hb.Generation++
	if r, _ := hb.RequestWith(ctx, cl); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat with a wrong generation: %d", r.ErrorCode)
	}
	// No more heartbeats: the session ends and the group empties.
	adm := kadm.NewClient(cl)
	waitFor(t, "the silent member to be removed", func() bool {
		dg, err := adm.DescribeGroups(ctx, "quiet")
		return err == nil && dg["quiet"].State == "Empty" && len(dg["quiet"].Members) == 0
	})
	hb.Generation--
	if r, _ := hb.RequestWith(ctx, cl); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of a removed member: %d", r.ErrorCode)
	}
	if !strings.Contains(b.logs.String(), "member session expired") {
		t.Error("no log line for the expiry")
	}
}

func TestConsumerLagMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, Config{Registry: reg})
	createTopic(t, b.addr, "lagged", 1, nil)
	produceN(t, b.addr, "lagged", 0, 10)
	adm := kadm.NewClient(newClient(t, b.addr))
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(context.Background(), "slow", offs); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "gantry_broker_consumer_lag" {
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 6 {
				t.Fatalf("lag %v, want 6", v)
			}
			return
		}
	}
	t.Fatal("no consumer lag metric")
}

// TestStaticMemberRestartsWithoutRebalance restarts a static member (group.instance.id)
// of a two-member franz-go group: it comes back to its partitions without a rebalance.
func TestStaticMemberRestartsWithoutRebalance(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "static", 4, nil)
	adm := kadm.NewClient(newClient(t, b.addr))
	ctx := context.Background()
	start := func(instance string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumerGroup("statics"), kgo.ConsumeTopics("static"),
			kgo.InstanceID(instance), kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(30*time.Second),
			kgo.Balancers(kgo.RangeBalancer())) // eager: one rebalance per change
		if err != nil {
			t.Fatal(err)
		}
		go func() { // poll, so that the client joins and keeps its session
			for {
				if fs := cl.PollFetches(ctx); fs.IsClientClosed() {
					return
				}
			}
		}()
		return cl
	}
	a := start("a")
	bcl := start("b")
	defer func() { a.Close(); bcl.Close() }() // closing twice is harmless
	waitFor(t, "a stable group of 2, each member with partitions", func() bool {
		dg, err := adm.DescribeGroups(ctx, "statics")
		if err != nil || dg["statics"].State != "Stable" || len(dg["statics"].Members) != 2 {
			return false
		}
		for _, m := range dg["statics"].Members {
			if ca, ok := m.Assigned.AsConsumer(); !ok || len(ca.Topics) == 0 {
				return false
			}
		}
		return true
	})
	// Restart each member in turn, the leader too (KIP-814): neither return starts a
	// new generation.
	clients := map[string]*kgo.Client{"a": a, "b": bcl}
	for _, instance := range []string{"a", "b"} {
		clients[instance].Close() // a static member does not leave the group on close
		n := strings.Count(b.logs.String(), "generation started")
		back0 := strings.Count(b.logs.String(), "static member rejoined without a rebalance")
		back := start(instance)
		defer back.Close()
		waitFor(t, "static member "+instance+" back", func() bool {
			return strings.Count(b.logs.String(), "static member rejoined without a rebalance") > back0
		})
		if got := strings.Count(b.logs.String(), "generation started"); got != n {
			t.Fatalf("static member %s's return started %d new generations", instance, got-n)
		}
		dg, _ := adm.DescribeGroups(ctx, "statics")
		if dg["statics"].State != "Stable" || len(dg["statics"].Members) != 2 {
			t.Fatalf("group %s with %d members after %s's restart", dg["statics"].State, len(dg["statics"].Members), instance)
		}
	}
}
