package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func openTest(t *testing.T) *Coordinator {
	t.Helper()
	c, err := Open(Config{Dir: t.TempDir(), MinSession: 10 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func joinReq(member, instance string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.SetVersion(9)
	r.Group, r.MemberID, r.ProtocolType = "g", member, "consumer"
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
	if instance != "" {
		r.InstanceID = &instance
	}
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("meta")}}
	return r
}

func syncReq(member string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.SetVersion(5)
	r.Group, r.MemberID, r.Generation = "g", member, gen
	for m, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	return r
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
		panic("unreachable")
	}
}

func heartbeat(c *Coordinator, member string, gen int32, instance string) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.SetVersion(4)
	r.Group, r.MemberID, r.Generation = "g", member, gen
	if instance != "" {
		r.InstanceID = &instance
	}
	return c.Heartbeat(r).ErrorCode
}

// TestGroupLifecycle walks a group through joins, a rebalance, syncs with the
// leader's assignment, a static member's restart without a rebalance, and a leave.
func TestGroupLifecycle(t *testing.T) {
	c := openTest(t)
	a := recv(t, c.Join(joinReq("", "ia"), "client-a", "/127.0.0.1"))
	if a.ErrorCode != 0 || a.Generation != 1 || a.LeaderID != a.MemberID || len(a.Members) != 1 {
		t.Fatalf("first join: %+v", a)
	}
	if s := recv(t, c.Sync(syncReq(a.MemberID, 1, map[string]string{a.MemberID: "all"}))); string(s.MemberAssignment) != "all" {
		t.Fatalf("leader's own assignment: %q", s.MemberAssignment)
	}

	// b joins: a learns of the rebalance by heartbeat and rejoins.
	bch := c.Join(joinReq("", "ib"), "client-b", "/127.0.0.1")
	if code := heartbeat(c, a.MemberID, 1, "ia"); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", code)
	}
	a2 := recv(t, c.Join(joinReq(a.MemberID, "ia"), "client-a", "/127.0.0.1"))
	b := recv(t, bch)
	if a2.Generation != 2 || b.Generation != 2 || a2.LeaderID != a.MemberID || len(a2.Members) != 2 || len(b.Members) != 0 {
		t.Fatalf("second generation: leader %+v, follower %+v", a2, b)
	}
	bsync := c.Sync(syncReq(b.MemberID, 2, nil)) // waits for the leader
	recv(t, c.Sync(syncReq(a.MemberID, 2, map[string]string{a.MemberID: "p0", b.MemberID: "p1"})))
	if s := recv(t, bsync); string(s.MemberAssignment) != "p1" {
		t.Fatalf("follower's assignment %q", s.MemberAssignment)
	}
	if code := heartbeat(c, b.MemberID, 1, "ib"); code != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat with an old generation: %d", code)
	}

	// b restarts (a static member): same instance id, no member id. No rebalance.
	b2 := recv(t, c.Join(joinReq("", "ib"), "client-b", "/127.0.0.1"))
	if b2.ErrorCode != 0 || b2.Generation != 2 || b2.MemberID == b.MemberID {
		t.Fatalf("static rejoin: %+v", b2)
	}
	if s := recv(t, c.Sync(syncReq(b2.MemberID, 2, nil))); s.ErrorCode != 0 || string(s.MemberAssignment) != "p1" {
		t.Fatalf("static member's assignment after restart: %+v", s)
	}
	if code := heartbeat(c, b.MemberID, 2, "ib"); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old incarnation's heartbeat: %d, want FENCED_INSTANCE_ID", code)
	}
	if code := heartbeat(c, a.MemberID, 2, "ia"); code != 0 {
		t.Fatalf("leader's heartbeat after a static rejoin: %d (a rebalance began)", code)
	}

	// a leaves: b is called back to rejoin, alone, in generation 3, as leader.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.SetVersion(5)
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a.MemberID}}
	if r := c.Leave(lv); r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	if code := heartbeat(c, b2.MemberID, 2, "ib"); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after a leave: %d", code)
	}
	b3 := recv(t, c.Join(joinReq(b2.MemberID, "ib"), "client-b", "/127.0.0.1"))
	if b3.Generation != 3 || b3.LeaderID != b2.MemberID {
		t.Fatalf("after the leave: %+v", b3)
	}
}

func TestJoinRejectsBadRequests(t *testing.T) {
	c := openTest(t)
	for name, tc := range map[string]struct {
		mutate func(*kmsg.JoinGroupRequest)
		want   int16
	}{
		"no group":         {func(r *kmsg.JoinGroupRequest) { r.Group = "" }, kerr.InvalidGroupID.Code},
		"session too long": {func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 1 << 30 }, kerr.InvalidSessionTimeout.Code},
		"no protocols":     {func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }, kerr.InconsistentGroupProtocol.Code},
		"unknown member":   {func(r *kmsg.JoinGroupRequest) { r.MemberID = "nobody" }, kerr.UnknownMemberID.Code},
	} {
		r := joinReq("", "")
		tc.mutate(r)
		if got := recv(t, c.Join(r, "x", "/h")).ErrorCode; got != tc.want {
			t.Errorf("%s: error %d, want %d", name, got, tc.want)
		}
	}
}

// TestMemberIDRequired follows KIP-394: a dynamic member's first JoinGroup (v4 and
// later) is answered MEMBER_ID_REQUIRED with an id, which it joins with; an id that
// is not used within the session timeout expires.
func TestMemberIDRequired(t *testing.T) {
	c := openTest(t)
	first := recv(t, c.Join(joinReq("", ""), "client", "/h"))
	if first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" || first.Generation != -1 {
		t.Fatalf("first join: %+v", first)
	}
	r := joinReq(first.MemberID, "")
	joined := recv(t, c.Join(r, "client", "/h"))
	if joined.ErrorCode != 0 || joined.MemberID != first.MemberID || joined.Generation != 1 || joined.LeaderID != first.MemberID {
		t.Fatalf("join with the given id: %+v", joined)
	}

	// Before v4, and for a static member, the id comes at once.
	old := joinReq("", "")
	old.SetVersion(3)
	old.Group = "g-old"
	if resp := recv(t, c.Join(old, "client", "/h")); resp.ErrorCode != 0 || resp.MemberID == "" {
		t.Fatalf("v3 join: %+v", resp)
	}
	static := joinReq("", "instance")
	static.Group = "g-static"
	if resp := recv(t, c.Join(static, "client", "/h")); resp.ErrorCode != 0 || resp.MemberID == "" {
		t.Fatalf("static join: %+v", resp)
	}

	// An id handed out and never used expires with the session timeout.
	short := joinReq("", "")
	short.Group, short.SessionTimeoutMillis = "g-expiry", 20
	given := recv(t, c.Join(short, "client", "/h")).MemberID
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := joinReq(given, "")
		r.Group, r.SessionTimeoutMillis = "g-expiry", 20
		c.mu.Lock()
		_, still := c.groups["g-expiry"].pending[given]
		c.mu.Unlock()
		if !still {
			if code := recv(t, c.Join(r, "client", "/h")).ErrorCode; code != kerr.UnknownMemberID.Code {
				t.Fatalf("join with an expired id: %d, want UNKNOWN_MEMBER_ID", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pending member id never expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStaticLeaderReturnsWithoutRebalance follows KIP-814: a static leader that
// restarts keeps the lead and its assignment, is told to skip the assignment, and the
// group stays in its generation.
func TestStaticLeaderReturnsWithoutRebalance(t *testing.T) {
	c := openTest(t)
	a := recv(t, c.Join(joinReq("", "ia"), "client-a", "/h"))
	recv(t, c.Sync(syncReq(a.MemberID, 1, map[string]string{a.MemberID: "all"})))
	a2 := recv(t, c.Join(joinReq("", "ia"), "client-a", "/h"))
	if a2.ErrorCode != 0 || a2.Generation != 1 || a2.MemberID == a.MemberID || a2.LeaderID != a2.MemberID ||
		!a2.SkipAssignment || len(a2.Members) != 1 {
		t.Fatalf("returning leader: %+v", a2)
	}
	s := recv(t, c.Sync(syncReq(a2.MemberID, 1, map[string]string{a2.MemberID: "a new plan, ignored"})))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "all" {
		t.Fatalf("returning leader's sync: %+v", s)
	}
	if code := heartbeat(c, a2.MemberID, 1, "ia"); code != 0 {
		t.Fatalf("heartbeat after the return: %d", code)
	}
	if code := heartbeat(c, a.MemberID, 1, "ia"); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old incarnation's heartbeat: %d, want FENCED_INSTANCE_ID", code)
	}
}

// TestGroupSizeBounded fills a group with members given ids and checks that the next
// join is refused with GROUP_MAX_SIZE_REACHED.
func TestGroupSizeBounded(t *testing.T) {
	c := openTest(t)
	for i := range maxGroupMembers {
		if code := recv(t, c.Join(joinReq("", ""), "client", "/h")).ErrorCode; code != kerr.MemberIDRequired.Code {
			t.Fatalf("join %d: error %d", i, code)
		}
	}
	if code := recv(t, c.Join(joinReq("", ""), "client", "/h")).ErrorCode; code != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("join past the limit: error %d, want GROUP_MAX_SIZE_REACHED", code)
	}
	if code := recv(t, c.Join(joinReq("", "static"), "client", "/h")).ErrorCode; code != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("static join past the limit: error %d, want GROUP_MAX_SIZE_REACHED", code)
	}
}
