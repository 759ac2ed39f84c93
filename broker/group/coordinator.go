package group

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Coordinator. Zero values mean the defaults.
type Config struct {
	Dir          string        // where the offsets log lives; required
	MinSession   time.Duration // default 6s
	MaxSession   time.Duration // default 30m
	InitialDelay time.Duration // how long the first join of an empty group waits for others; default 0
	Logger       *slog.Logger  // nil discards
}

// State names, as Kafka reports them in DescribeGroups and ListGroups.
const (
	Empty               = "Empty"
	PreparingRebalance  = "PreparingRebalance"
	CompletingRebalance = "CompletingRebalance"
	Stable              = "Stable"
	Dead                = "Dead"
)

// maxGroupMembers bounds the members of one group, those given an id and not yet
// joined included (Kafka's group.max.size): beyond it, JoinGroup is answered
// GROUP_MAX_SIZE_REACHED.
const maxGroupMembers = 10000

// Coordinator runs every consumer group of the broker.
type Coordinator struct {
	cfg Config
	lg  *slog.Logger

	mu      sync.Mutex // protects everything below, and every group and member
	groups  map[string]*group
	offsets *offsetStore
	closed  bool
}

type group struct {
	id           string
	state        string
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	instances    map[string]string      // group.instance.id → member id
	pending      map[string]*time.Timer // member ids handed out with MEMBER_ID_REQUIRED, until they join or expire
	joinTimer    *time.Timer            // ends PreparingRebalance
	joinSeq      uint64                 // which joinTimer is current: a stopped timer may still fire
}

type member struct {
	id, instanceID     string
	clientID, host     string
	protocols          []kmsg.JoinGroupRequestProtocol
	session, rebalance time.Duration
	assignment         []byte
	joinCh             chan *kmsg.JoinGroupResponse // set while a JoinGroup waits
	joinReq            *kmsg.JoinGroupRequest
	syncCh             chan *kmsg.SyncGroupResponse // set while a SyncGroup waits
	syncReq            *kmsg.SyncGroupRequest
	expiry             *time.Timer
	expirySeq          uint64 // which expiry timer is current: a stopped timer may still fire
}

// Open opens the offsets log in cfg.Dir and returns a coordinator with no live groups
// (groups with committed offsets are listed as Empty).
func Open(cfg Config) (*Coordinator, error) {
	if cfg.MinSession == 0 {
		cfg.MinSession = 6 * time.Second
	}
	if cfg.MaxSession == 0 {
		cfg.MaxSession = 30 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, lg: cfg.Logger, groups: map[string]*group{}}
	offs, err := openOffsets(cfg.Dir, &c.mu, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c.offsets = offs
	return c, nil
}

// Close answers every waiting JoinGroup and SyncGroup with an error, stops the timers
// and closes the offsets log once the commits it holds are written.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, g := range c.groups {
		if g.joinTimer != nil {
			g.joinTimer.Stop()
		}
		for _, t := range g.pending {
			t.Stop()
		}
		for _, m := range g.members {
			if m.expiry != nil {
				m.expiry.Stop()
			}
			if m.joinCh != nil {
				m.joinCh <- joinError(m.joinReq, kerr.CoordinatorNotAvailable.Code)
				m.joinCh = nil
			}
			if m.syncCh != nil {
				m.syncCh <- syncError(m.syncReq, kerr.CoordinatorNotAvailable.Code)
				m.syncCh = nil
			}
		}
	}
	c.mu.Unlock()
	// Commits added before closed was set are still written and answered; the
	// syncer needs c.mu to apply them, so it is not held here.
	return c.offsets.close()
}

func (c *Coordinator) group(id string, create bool) *group {
	g := c.groups[id]
	if g == nil && create {
		g = &group{id: id, state: Empty, members: map[string]*member{}, instances: map[string]string{}, pending: map[string]*time.Timer{}}
		c.groups[id] = g
	}
	return g
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	if clientID == "" {
		clientID = "member"
	}
	return clientID + "-" + hex.EncodeToString(b[:])
}

func joinError(r *kmsg.JoinGroupRequest, code int16) *kmsg.JoinGroupResponse {
	resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, r.MemberID
	return resp
}

func syncError(r *kmsg.SyncGroupRequest, code int16) *kmsg.SyncGroupResponse {
	resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = code
	return resp
}

// Join handles JoinGroup. The answer comes on the channel when the rebalance
// completes (or at once, for an error).
func (c *Coordinator) Join(r *kmsg.JoinGroupRequest, clientID, host string) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	session := time.Duration(r.SessionTimeoutMillis) * time.Millisecond
	rebalance := session
	if r.Version >= 1 {
		rebalance = time.Duration(r.RebalanceTimeoutMillis) * time.Millisecond
	}
	g := c.group(r.Group, r.Group != "")
	switch {
	case c.closed:
		ch <- joinError(r, kerr.CoordinatorNotAvailable.Code)
		return ch
	case r.Group == "":
		ch <- joinError(r, kerr.InvalidGroupID.Code)
		return ch
	case session < c.cfg.MinSession || session > c.cfg.MaxSession:
		ch <- joinError(r, kerr.InvalidSessionTimeout.Code)
		return ch
	case r.ProtocolType == "" || len(r.Protocols) == 0 || len(r.Protocols) > 64:
		ch <- joinError(r, kerr.InconsistentGroupProtocol.Code)
		return ch
	case len(g.members) > 0 && (r.ProtocolType != g.protocolType || !g.supportsAny(r.Protocols)):
		ch <- joinError(r, kerr.InconsistentGroupProtocol.Code)
		return ch
	}
	instance := ""
	if r.InstanceID != nil {
		instance = *r.InstanceID
	}
	id := r.MemberID
	var m *member
	switch {
	case id == "" && instance != "" && g.instances[instance] != "":
		// A static member back: it replaces its former self, whose waiting calls are
		// fenced.
		old := g.members[g.instances[instance]]
		id = newMemberID(clientID)
		if g.state == Stable && r.ProtocolType == g.protocolType && offers(r.Protocols, g.protocol) {
			// KIP-345: the member can still use the group's protocol, so there is no
			// rebalance; it takes its old place and assignment. (As Kafka does, its new
			// metadata is kept but does not change the current assignment.)
			wasLeader := old.id == g.leader
			c.replaceStatic(g, old, id, clientID, host, session, rebalance, r.Protocols)
			resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
			if wasLeader {
				// KIP-814: a returning leader stays leader and learns the members (so that
				// it can watch their topics), but is told not to assign: SyncGroup in a
				// stable group hands back the current assignment.
				g.leader = id
				resp.Members, resp.SkipAssignment = g.joinMembers(), true
			}
			pt, proto := g.protocolType, g.protocol
			resp.Generation, resp.ProtocolType, resp.Protocol = g.generation, &pt, &proto
			resp.LeaderID, resp.MemberID = g.leader, id
			ch <- resp
			c.lg.Info("group: static member rejoined without a rebalance", "group", g.id, "instance", instance, "member", id)
			return ch
		}
		c.removeMember(g, old, kerr.FencedInstanceID.Code)
	case id == "" && instance == "" && r.Version >= 4:
		// KIP-394: a new dynamic member is given its id and asked to join again with
		// it, so that a client that retries a timed-out join does not leave a ghost
		// member behind (the id it was given expires unused after the session timeout).
		if len(g.members)+len(g.pending) >= maxGroupMembers {
			ch <- joinError(r, kerr.GroupMaxSizeReached.Code)
			return ch
		}
		id = newMemberID(clientID)
		g.pending[id] = time.AfterFunc(session, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(g.pending, id)
		})
		resp := joinError(r, kerr.MemberIDRequired.Code)
		resp.MemberID = id
		ch <- resp
		return ch
	case id == "":
		id = newMemberID(clientID)
	default:
		m = g.members[id]
		if t := g.pending[id]; m == nil && t != nil && instance == "" {
			t.Stop()
			delete(g.pending, id)
			break // the member given this id joins now
		}
		if m == nil {
			ch <- joinError(r, kerr.UnknownMemberID.Code)
			return ch
		}
		if m.instanceID != instance {
			ch <- joinError(r, kerr.FencedInstanceID.Code)
			return ch
		}
	}
	if m == nil && len(g.members)+len(g.pending) >= maxGroupMembers {
		ch <- joinError(r, kerr.GroupMaxSizeReached.Code)
		return ch
	}
	if m == nil {
		m = &member{id: id, instanceID: instance}
		g.members[id] = m
		if instance != "" {
			g.instances[instance] = id
		}
		if g.leader == "" {
			g.leader = id
		}
		c.lg.Info("group: member joined", "group", g.id, "member", id)
	}
	if m.joinCh != nil { // a second join replaces the first, which is told to retry
		m.joinCh <- joinError(m.joinReq, kerr.RebalanceInProgress.Code)
	}
	m.clientID, m.host, m.protocols, m.session, m.rebalance = clientID, host, r.Protocols, session, rebalance
	m.joinCh, m.joinReq = ch, r
	g.protocolType = r.ProtocolType
	if m.expiry != nil {
		m.expiry.Stop() // no session expiry while a join waits
		m.expiry = nil
	}
	m.expirySeq++
	if g.state != PreparingRebalance {
		c.prepareRebalance(g)
	}
	c.maybeCompleteJoin(g)
	return ch
}

// replaceStatic gives old's place in the group, assignment included, to a new member id.
func (c *Coordinator) replaceStatic(g *group, old *member, id, clientID, host string, session, rebalance time.Duration, protocols []kmsg.JoinGroupRequestProtocol) {
	m := &member{id: id, instanceID: old.instanceID, clientID: clientID, host: host, protocols: protocols,
		session: session, rebalance: rebalance, assignment: old.assignment}
	c.removeMember(g, old, kerr.FencedInstanceID.Code)
	g.members[id] = m
	g.instances[m.instanceID] = id
	c.resetExpiry(g, m)
}

func offers(ps []kmsg.JoinGroupRequestProtocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (g *group) supportsAny(ps []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range ps {
		if g.allSupport(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(name string) bool {
	for _, m := range g.members {
		found := false
		for _, p := range m.protocols {
			if p.Name == name {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// prepareRebalance starts a rebalance: waiting syncs are told to rejoin, and members
// get the longest rebalance timeout among them to join again.
func (c *Coordinator) prepareRebalance(g *group) {
	wasEmpty := g.state == Empty
	g.state = PreparingRebalance
	timeout := time.Duration(0)
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- syncError(m.syncReq, kerr.RebalanceInProgress.Code)
			m.syncCh = nil
		}
		timeout = max(timeout, m.rebalance)
	}
	if wasEmpty {
		timeout = c.cfg.InitialDelay
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.joinSeq++
	seq := g.joinSeq
	g.joinTimer = time.AfterFunc(timeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		// Stop cannot recall a timer that already fired and waits for the lock: only
		// the current one may end the rebalance.
		if !c.closed && g.joinSeq == seq && g.state == PreparingRebalance && c.groups[g.id] == g {
			c.completeJoin(g)
		}
	})
	c.lg.Info("group: rebalancing", "group", g.id, "generation", g.generation, "members", len(g.members))
}

// maybeCompleteJoin completes the join phase once every known member has joined (and
// the initial delay of a new group, if any, is over).
func (c *Coordinator) maybeCompleteJoin(g *group) {
	if g.state != PreparingRebalance || c.cfg.InitialDelay > 0 && g.generation == 0 {
		return
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return
		}
	}
	c.completeJoin(g)
}

// completeJoin ends PreparingRebalance: members that did not rejoin are dropped, a new
// generation begins, and each waiting JoinGroup is answered; the leader gets the
// members and their metadata to compute the assignment.
func (c *Coordinator) completeJoin(g *group) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
	g.joinSeq++
	for _, m := range g.members {
		if m.joinCh == nil {
			c.lg.Info("group: member did not rejoin in time", "group", g.id, "member", m.id)
			c.removeMember(g, m, kerr.UnknownMemberID.Code)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = Empty, "", ""
		return
	}
	g.protocol = g.chooseProtocol()
	if g.members[g.leader] == nil {
		for _, id := range g.memberIDs() {
			g.leader = id
			break
		}
	}
	g.state = CompletingRebalance
	for _, id := range g.memberIDs() {
		m := g.members[id]
		resp := m.joinReq.ResponseKind().(*kmsg.JoinGroupResponse)
		pt, proto := g.protocolType, g.protocol
		resp.Generation, resp.ProtocolType, resp.Protocol = g.generation, &pt, &proto
		resp.LeaderID, resp.MemberID = g.leader, m.id
		if m.id == g.leader {
			resp.Members = g.joinMembers()
		}
		m.joinCh <- resp
		m.joinCh, m.joinReq = nil, nil
		c.resetExpiry(g, m)
	}
	c.lg.Info("group: generation started", "group", g.id, "generation", g.generation, "protocol", g.protocol, "leader", g.leader, "members", len(g.members))
}

// joinMembers is what the leader's JoinGroup answer lists: every member with its
// metadata for the group's protocol.
func (g *group) joinMembers() []kmsg.JoinGroupResponseMember {
	var out []kmsg.JoinGroupResponseMember
	for _, id := range g.memberIDs() {
		o := g.members[id]
		jm := kmsg.JoinGroupResponseMember{MemberID: o.id, ProtocolMetadata: o.metadata(g.protocol)}
		if o.instanceID != "" {
			inst := o.instanceID
			jm.InstanceID = &inst
		}
		out = append(out, jm)
	}
	return out
}

func (g *group) memberIDs() []string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// chooseProtocol picks the protocol all members support that ranks best in their
// preference lists (each member votes for its first choice that all support).
func (g *group) chooseProtocol() string {
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.allSupport(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, n := "", -1
	for _, m := range g.members { // ties go to the leader's preference order
		for _, p := range m.protocols {
			if votes[p.Name] > n || (votes[p.Name] == n && m.id == g.leader) {
				if g.allSupport(p.Name) {
					best, n = p.Name, votes[p.Name]
				}
			}
		}
	}
	return best
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// resetExpiry (re)starts m's session timer.
func (c *Coordinator) resetExpiry(g *group, m *member) {
	if m.expiry != nil {
		m.expiry.Stop()
	}
	m.expirySeq++
	seq := m.expirySeq
	m.expiry = time.AfterFunc(m.session, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || m.expirySeq != seq || c.groups[g.id] != g || g.members[m.id] != m || m.joinCh != nil {
			return
		}
		c.lg.Info("group: member session expired", "group", g.id, "member", m.id, "session", m.session)
		c.removeMember(g, m, kerr.UnknownMemberID.Code)
		c.afterLeave(g)
	})
}

// removeMember drops m, answering its waiting calls with code.
func (c *Coordinator) removeMember(g *group, m *member, code int16) {
	if m == nil {
		return
	}
	if m.expiry != nil {
		m.expiry.Stop()
	}
	if m.joinCh != nil {
		m.joinCh <- joinError(m.joinReq, code)
	}
	if m.syncCh != nil {
		m.syncCh <- syncError(m.syncReq, code)
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.instances[m.instanceID] == m.id {
		delete(g.instances, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for _, id := range g.memberIDs() {
			g.leader = id
			break
		}
	}
}

// afterLeave moves the group on after members went away.
func (c *Coordinator) afterLeave(g *group) {
	switch {
	case len(g.members) == 0:
		if g.joinTimer != nil {
			g.joinTimer.Stop()
			g.joinTimer = nil
		}
		if g.state != Empty {
			g.generation++
		}
		g.state, g.protocol, g.leader = Empty, "", ""
	case g.state == PreparingRebalance:
		c.maybeCompleteJoin(g)
	default:
		c.prepareRebalance(g)
	}
}

// Sync handles SyncGroup: the leader's call carries every member's assignment; the
// others wait for it.
func (c *Coordinator) Sync(r *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	g, m, code := c.lookup(r.Group, r.MemberID, r.Generation, r.InstanceID)
	if code == 0 && g.state == PreparingRebalance {
		code = kerr.RebalanceInProgress.Code
	}
	if code != 0 {
		ch <- syncError(r, code)
		return ch
	}
	c.resetExpiry(g, m)
	if g.state == Stable {
		ch <- c.syncResponse(g, m, r)
		return ch
	}
	// CompletingRebalance
	if m.syncCh != nil {
		m.syncCh <- syncError(m.syncReq, kerr.RebalanceInProgress.Code)
	}
	m.syncCh, m.syncReq = ch, r
	if m.id == g.leader {
		for _, m := range g.members {
			m.assignment = nil
		}
		for _, a := range r.GroupAssignment {
			if am := g.members[a.MemberID]; am != nil {
				am.assignment = a.MemberAssignment
			}
		}
		g.state = Stable
		for _, om := range g.members {
			if om.syncCh != nil {
				om.syncCh <- c.syncResponse(g, om, om.syncReq)
				om.syncCh, om.syncReq = nil, nil
			}
		}
		c.lg.Info("group: stable", "group", g.id, "generation", g.generation)
	}
	return ch
}

func (c *Coordinator) syncResponse(g *group, m *member, r *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	pt, proto := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &proto
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

// lookup finds a live member and checks its generation.
func (c *Coordinator) lookup(groupID, memberID string, generation int32, instanceID *string) (*group, *member, int16) {
	if c.closed {
		return nil, nil, kerr.CoordinatorNotAvailable.Code
	}
	g := c.groups[groupID]
	if g == nil {
		return nil, nil, kerr.UnknownMemberID.Code
	}
	m := g.members[memberID]
	if m == nil {
		if instanceID != nil && g.instances[*instanceID] != "" {
			return g, nil, kerr.FencedInstanceID.Code
		}
		return g, nil, kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return g, m, kerr.IllegalGeneration.Code
	}
	return g, m, 0
}

// Heartbeat handles Heartbeat: it keeps the member's session alive and tells it when
// a rebalance needs it to rejoin.
func (c *Coordinator) Heartbeat(r *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	g, m, code := c.lookup(r.Group, r.MemberID, r.Generation, r.InstanceID)
	if code == kerr.IllegalGeneration.Code && g.state == PreparingRebalance {
		code = kerr.RebalanceInProgress.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	c.resetExpiry(g, m)
	if g.state == PreparingRebalance {
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

// Leave handles LeaveGroup (one member before v3, a list of them since).
func (c *Coordinator) Leave(r *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[r.Group]
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	leave := func(id string, instance *string) int16 {
		if g == nil {
			return kerr.UnknownMemberID.Code
		}
		if id == "" && instance != nil {
			id = g.instances[*instance]
		}
		m := g.members[id]
		if m == nil {
			return kerr.UnknownMemberID.Code
		}
		if instance != nil && m.instanceID != *instance {
			return kerr.FencedInstanceID.Code
		}
		c.lg.Info("group: member left", "group", g.id, "member", id)
		c.removeMember(g, m, kerr.UnknownMemberID.Code)
		return 0
	}
	left := false
	if r.Version < 3 {
		resp.ErrorCode = leave(r.MemberID, nil)
		left = resp.ErrorCode == 0
	} else {
		for _, lm := range r.Members {
			code := leave(lm.MemberID, lm.InstanceID)
			left = left || code == 0
			resp.Members = append(resp.Members, kmsg.LeaveGroupResponseMember{MemberID: lm.MemberID, InstanceID: lm.InstanceID, ErrorCode: code})
		}
	}
	if left {
		c.afterLeave(g)
	}
	return resp
}
