package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMetadata bounds the metadata string stored with a committed offset (Kafka's
// offset.metadata.max.bytes).
const maxMetadata = 4096

// Commit handles OffsetCommit. Members of a live group must name their generation; a
// commit with generation -1 and no member id comes from a consumer outside any group
// and is allowed while the group has no members. The offsets are synced to disk
// before the answer, without holding the coordinator's lock: other requests go on
// meanwhile, and commits that arrive during an fsync share the next one.
func (c *Coordinator) Commit(r *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	c.mu.Lock()
	code := int16(0)
	g := c.groups[r.Group]
	switch {
	case c.closed:
		code = kerr.CoordinatorNotAvailable.Code
	case r.Group == "":
		code = kerr.InvalidGroupID.Code
	case r.Generation < 0 && r.MemberID == "":
		if g != nil && len(g.members) > 0 {
			code = kerr.UnknownMemberID.Code
		}
	default:
		var m *member
		g, m, code = c.lookup(r.Group, r.MemberID, r.Generation, r.InstanceID)
		if code == 0 && g.state == PreparingRebalance {
			code = kerr.RebalanceInProgress.Code
		}
		if code == 0 {
			c.resetExpiry(g, m)
		}
	}
	var es []entry
	for _, rt := range r.Topics {
		ot := kmsg.OffsetCommitResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			pc := code
			meta := ""
			if rp.Metadata != nil {
				meta = *rp.Metadata
			}
			if pc == 0 && len(meta) > maxMetadata {
				pc = kerr.OffsetMetadataTooLarge.Code
			}
			if pc == 0 {
				es = append(es, entry{Group: r.Group, Topic: rt.Topic, Partition: rp.Partition, Offset: Offset{rp.Offset, rp.LeaderEpoch, meta}})
			}
			ot.Partitions = append(ot.Partitions, kmsg.OffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: pc})
		}
		resp.Topics = append(resp.Topics, ot)
	}
	var batch uint64
	if len(es) > 0 {
		batch = c.offsets.add(es)
		if g == nil && r.Group != "" {
			c.group(r.Group, true) // a group that only commits is still listed
		}
	}
	c.mu.Unlock()
	if batch == 0 {
		return resp
	}
	if err := c.offsets.wait(batch); err != nil {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
	}
	return resp
}

// Fetch handles OffsetFetch (v0 to v7): the named partitions, or every committed one
// when Topics is null. A partition without a commit gets offset -1.
func (c *Coordinator) Fetch(r *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	offs := c.offsets.m[r.Group]
	part := func(tp TopicPartition) kmsg.OffsetFetchResponseTopicPartition {
		p := kmsg.NewOffsetFetchResponseTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, -1, -1
		if o, ok := offs[tp]; ok {
			meta := o.Metadata
			p.Offset, p.LeaderEpoch, p.Metadata = o.Offset, o.LeaderEpoch, &meta
		}
		return p
	}
	if r.Topics == nil {
		byTopic := map[string][]TopicPartition{}
		for tp := range offs {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp)
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			tps := byTopic[t]
			sort.Slice(tps, func(i, j int) bool { return tps[i].Partition < tps[j].Partition })
			ot := kmsg.OffsetFetchResponseTopic{Topic: t}
			for _, tp := range tps {
				ot.Partitions = append(ot.Partitions, part(tp))
			}
			resp.Topics = append(resp.Topics, ot)
		}
		return resp
	}
	for _, rt := range r.Topics {
		ot := kmsg.OffsetFetchResponseTopic{Topic: rt.Topic}
		for _, p := range rt.Partitions {
			ot.Partitions = append(ot.Partitions, part(TopicPartition{rt.Topic, p}))
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// Committed returns a copy of every group's committed offsets (for lag metrics).
func (c *Coordinator) Committed() map[string]map[TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[TopicPartition]int64, len(c.offsets.m))
	for g, offs := range c.offsets.m {
		m := make(map[TopicPartition]int64, len(offs))
		for tp, o := range offs {
			m[tp] = o.Offset
		}
		out[g] = m
	}
	return out
}

// Describe handles DescribeGroups.
func (c *Coordinator) Describe(r *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range r.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.AuthorizedOperations = id, -2147483648
		g := c.groups[id]
		switch {
		case c.closed:
			dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case g == nil:
			dg.State = Dead // as Kafka answers for a group it does not know
		default:
			dg.State, dg.ProtocolType = g.state, g.protocolType
			if g.state == Stable {
				dg.Protocol = g.protocol
			}
			for _, mid := range g.memberIDs() {
				m := g.members[mid]
				dm := kmsg.DescribeGroupsResponseGroupMember{MemberID: m.id, ClientID: m.clientID, ClientHost: m.host,
					ProtocolMetadata: m.metadata(g.protocol), MemberAssignment: m.assignment}
				if m.instanceID != "" {
					inst := m.instanceID
					dm.InstanceID = &inst
				}
				if dm.MemberAssignment == nil {
					dm.MemberAssignment = []byte{}
				}
				if dm.ProtocolMetadata == nil {
					dm.ProtocolMetadata = []byte{}
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// List handles ListGroups, with the state filter of v4.
func (c *Coordinator) List(r *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	for id := range c.offsets.m {
		if c.groups[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		state, pt := Empty, "consumer"
		if g := c.groups[id]; g != nil {
			state = g.state
			if g.protocolType != "" {
				pt = g.protocolType
			}
		}
		if len(r.StatesFilter) > 0 && !contains(r.StatesFilter, state) {
			continue
		}
		resp.Groups = append(resp.Groups, kmsg.ListGroupsResponseGroup{Group: id, ProtocolType: pt, GroupState: state})
	}
	return resp
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Delete handles DeleteGroups: only a group without members can go, with its offsets.
// As for Commit, the deletion is synced to the offsets log before the answer, without
// the coordinator's lock.
func (c *Coordinator) Delete(r *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	var batch uint64
	var deleted []int // indexes into resp.Groups
	c.mu.Lock()
	for _, id := range r.Groups {
		code := int16(0)
		g, hasOffsets := c.groups[id], c.offsets.m[id] != nil
		switch {
		case c.closed:
			code = kerr.CoordinatorNotAvailable.Code
		case g == nil && !hasOffsets:
			code = kerr.GroupIDNotFound.Code
		case g != nil && len(g.members) > 0:
			code = kerr.NonEmptyGroup.Code
		default:
			batch = c.offsets.add([]entry{{Group: id, Delete: true}})
			delete(c.groups, id)
			deleted = append(deleted, len(resp.Groups))
			c.lg.Info("group: deleted", "group", id)
		}
		resp.Groups = append(resp.Groups, kmsg.DeleteGroupsResponseGroup{Group: id, ErrorCode: code})
	}
	c.mu.Unlock()
	// A failure is sticky (see flush), so waiting for the last batch covers the
	// earlier ones.
	if batch != 0 && c.offsets.wait(batch) != nil {
		for _, i := range deleted {
			resp.Groups[i].ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
	}
	return resp
}
