// Package group is the consumer group coordinator of the broker: the classic Kafka
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the durable store of
// committed offsets (OffsetCommit, OffsetFetch).
//
// A group moves through these states:
//
//	Empty ──join──▶ PreparingRebalance ──all joined or timeout──▶ CompletingRebalance
//	  ▲                  ▲        ▲                                   │ leader's SyncGroup
//	  │ last member      │ join,  └──────── join, leave, expiry ──────┤
//	  │ leaves           │ leave,                                     ▼
//	  └──────────────────┴─ expiry ────────────────────────────── Stable
//
// Each completed join starts a new generation. The coordinator picks the protocol
// (assignor) every member supports, and the leader (the first member to join) computes
// the assignment on the client side, so range, roundrobin and cooperative-sticky all
// work. A member that sends no heartbeat within its session timeout is removed and the
// group rebalances. Members with a group.instance.id (static members) keep their
// identity across restarts: rejoining with the same instance id replaces the old member.
//
// Committed offsets are appended to an offsets log (one line per commit, with a CRC)
// and synced before OffsetCommit is answered; on Open the log is replayed, a torn last
// line ignored, and the log rewritten compactly when it has grown well past what it
// holds. The fsync runs outside the coordinator's lock, so one group's commit never
// holds up another group's requests, and commits that arrive during an fsync share the
// next one (see offsetStore).
package group
