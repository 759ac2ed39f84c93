package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleGroup runs the group APIs; it reports false for any other request.
func (s *Server) handleGroup(c *conn, req kmsg.Request, p *pending) bool {
	switch r := req.(type) {
	case *kmsg.FindCoordinatorRequest:
		p.resp = s.findCoordinator(r)
	case *kmsg.JoinGroupRequest:
		ch := s.groups.Join(r, p.clientID, c.host)
		p.wait = func() kmsg.Response { return <-ch }
	case *kmsg.SyncGroupRequest:
		ch := s.groups.Sync(r)
		p.wait = func() kmsg.Response { return <-ch }
	case *kmsg.HeartbeatRequest:
		p.resp = s.groups.Heartbeat(r)
	case *kmsg.LeaveGroupRequest:
		p.resp = s.groups.Leave(r)
	case *kmsg.OffsetCommitRequest:
		p.resp = s.groups.Commit(r)
	case *kmsg.OffsetFetchRequest:
		p.resp = s.groups.Fetch(r)
	case *kmsg.DescribeGroupsRequest:
		p.resp = s.groups.Describe(r)
	case *kmsg.ListGroupsRequest:
		p.resp = s.groups.List(r)
	case *kmsg.DeleteGroupsRequest:
		p.resp = s.groups.Delete(r)
	default:
		return false
	}
	return true
}

// findCoordinator answers that this node coordinates every group. Transactions are
// not implemented, so a transaction coordinator is not available.
func (s *Server) findCoordinator(r *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertised()
	answer := func(key string) (int16, *string) {
		switch {
		case r.CoordinatorType != 0:
			msg := "transactions are not supported"
			return kerr.CoordinatorNotAvailable.Code, &msg
		case key == "":
			return kerr.InvalidGroupID.Code, nil
		}
		return 0, nil
	}
	if r.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = answer(r.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port = 0, host, port
		if resp.ErrorCode != 0 {
			resp.NodeID, resp.Host, resp.Port = -1, "", -1
		}
		return resp
	}
	for _, key := range r.CoordinatorKeys {
		code, msg := answer(key)
		co := kmsg.FindCoordinatorResponseCoordinator{Key: key, NodeID: 0, Host: host, Port: port, ErrorCode: code, ErrorMessage: msg}
		if code != 0 {
			co.NodeID, co.Host, co.Port = -1, "", -1
		}
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp
}
