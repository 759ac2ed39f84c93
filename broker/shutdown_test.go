package broker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gantry/internal/testenv"
)

// TestShutdownEndsWaits checks that Shutdown does not wait out a long-polling fetch
// or a JoinGroup waiting for a rebalance: both are answered, and Shutdown returns fast.
func TestShutdownEndsWaits(t *testing.T) {
	s, err := New(Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr, served := testenv.ServeOwn(t, s)
	createTopic(t, addr, "quiet", 1, nil)
	cl := newClient(t, addr, kgo.RequestRetries(0))
	ctx := context.Background()

	fetched := make(chan error, 1)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 60000, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "quiet"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		_, err := req.RequestWith(ctx, cl)
		fetched <- err
	}()
	// Two members: the first joins alone, the second makes a rebalance that waits for
	// the first to rejoin (for up to a minute).
	// Each join is done twice: the first gets a member id and MEMBER_ID_REQUIRED.
	join := func(cl *kgo.Client) (*kmsg.JoinGroupResponse, error) {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.ProtocolType = "g", "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 30000, 60000
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
		jr, err := r.RequestWith(ctx, cl)
		if err != nil || jr.ErrorCode != kerr.MemberIDRequired.Code {
			return jr, err
		}
		r.MemberID = jr.MemberID
		return r.RequestWith(ctx, cl)
	}
	if jr, err := join(cl); err != nil || jr.ErrorCode != 0 {
		t.Fatalf("first join: %v %+v", err, jr)
	}
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	cl2 := newClient(t, addr, kgo.RequestRetries(0))
	go func() {
		jr, _ := join(cl2)
		joined <- jr
	}()
	p := s.topics.partition("quiet", 0)
	waitFor(t, "the fetch to wait", func() bool {
		p.waitMu.Lock()
		defer p.waitMu.Unlock()
		return len(p.waiters) > 0
	})
	waitFor(t, "the second join to wait", func() bool {
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups = []string{"g"}
		r, err := dg.RequestWith(ctx, cl)
		return err == nil && r.Groups[0].State == "PreparingRebalance" && len(r.Groups[0].Members) == 2
	})

	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(start); took > 8*time.Second { // the waits are for a minute
		t.Fatalf("shutdown took %v with a fetch and a join waiting", took)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	select {
	case <-fetched: // answered, or its connection closed: either way not left hanging
	case <-time.After(5 * time.Second):
		t.Fatal("the long-polling fetch was left hanging")
	}
	select {
	case <-joined:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting join was left hanging")
	}
}
