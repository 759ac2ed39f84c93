package cache

import "math/rand/v2"

// zset is a sorted set: a map from member to score, and a skip list ordered by
// (score, member) whose links carry spans, so that rank queries are O(log n).
type zset struct {
	scores map[string]float64
	head   *zskipNode
	tail   *zskipNode
	level  int
	bytes  int64
}

const zskipMaxLevel = 32

type zskipNode struct {
	member string
	score  float64
	back   *zskipNode
	level  []zskipLevel
}

type zskipLevel struct {
	next *zskipNode
	span int // elements skipped by next, counting next itself
}

func newZset() *zset {
	return &zset{scores: make(map[string]float64), head: &zskipNode{level: make([]zskipLevel, zskipMaxLevel)}, level: 1}
}

func (z *zset) len() int { return len(z.scores) }

func zless(s1 float64, m1 string, s2 float64, m2 string) bool {
	return s1 < s2 || (s1 == s2 && m1 < m2)
}

func randomLevel() int {
	l := 1
	for l < zskipMaxLevel && rand.Uint32()&3 == 0 { // p = 1/4, as Redis
		l++
	}
	return l
}

func (z *zset) insert(score float64, member string) {
	var update [zskipMaxLevel]*zskipNode
	var rank [zskipMaxLevel]int
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		if i < z.level-1 {
			rank[i] = rank[i+1]
		}
		for x.level[i].next != nil && zless(x.level[i].next.score, x.level[i].next.member, score, member) {
			rank[i] += x.level[i].span
			x = x.level[i].next
		}
		update[i] = x
	}
	lvl := randomLevel()
	if lvl > z.level {
		for i := z.level; i < lvl; i++ {
			rank[i] = 0
			update[i] = z.head
			update[i].level[i].span = z.len()
		}
		z.level = lvl
	}
	n := &zskipNode{member: member, score: score, level: make([]zskipLevel, lvl)}
	for i := range lvl {
		n.level[i].next = update[i].level[i].next
		update[i].level[i].next = n
		n.level[i].span = update[i].level[i].span - (rank[0] - rank[i])
		update[i].level[i].span = rank[0] - rank[i] + 1
	}
	for i := lvl; i < z.level; i++ {
		update[i].level[i].span++
	}
	if update[0] != z.head {
		n.back = update[0]
	}
	if n.level[0].next != nil {
		n.level[0].next.back = n
	} else {
		z.tail = n
	}
}

func (z *zset) remove(score float64, member string) {
	var update [zskipMaxLevel]*zskipNode
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for x.level[i].next != nil && zless(x.level[i].next.score, x.level[i].next.member, score, member) {
			x = x.level[i].next
		}
		update[i] = x
	}
	x = x.level[0].next
	if x == nil || x.member != member {
		return
	}
	for i := range z.level {
		if update[i].level[i].next == x {
			update[i].level[i].span += x.level[i].span - 1
			update[i].level[i].next = x.level[i].next
		} else {
			update[i].level[i].span--
		}
	}
	if x.level[0].next != nil {
		x.level[0].next.back = x.back
	} else {
		z.tail = x.back
	}
	for z.level > 1 && z.head.level[z.level-1].next == nil {
		z.level--
	}
}

// add sets member's score and reports whether it is new.
func (z *zset) add(member []byte, score float64) bool {
	old, ok := z.scores[string(member)]
	return z.update(member, score, old, ok)
}

// update is add for a caller that has looked member up: old is its score when
// ok reports it is there.
func (z *zset) update(member []byte, score, old float64, ok bool) bool {
	if score == 0 {
		score = 0 // -0 is stored as 0, as Redis's listpack stores an integral score
	}
	if ok {
		if old != score {
			z.remove(old, string(member))
			z.insert(score, string(member))
			z.scores[string(member)] = score
		}
		return false
	}
	m := string(member)
	z.scores[m] = score
	z.insert(score, m)
	z.bytes += int64(len(m))
	return true
}

func (z *zset) rem(member []byte) bool {
	score, ok := z.scores[string(member)]
	if !ok {
		return false
	}
	z.remove(score, string(member))
	delete(z.scores, string(member))
	z.bytes -= int64(len(member))
	return true
}

// rank returns member's 0-based rank in ascending order.
func (z *zset) rank(member []byte) (int, bool) {
	score, ok := z.scores[string(member)]
	if !ok {
		return 0, false
	}
	r := 0
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for x.level[i].next != nil && !zless(score, string(member), x.level[i].next.score, x.level[i].next.member) {
			r += x.level[i].span
			x = x.level[i].next
		}
		if x.member == string(member) && x != z.head {
			return r - 1, true
		}
	}
	return r - 1, true
}

// byRank returns the node at 0-based rank r.
func (z *zset) byRank(r int) *zskipNode {
	traversed := 0
	x := z.head
	r++
	for i := z.level - 1; i >= 0; i-- {
		for x.level[i].next != nil && traversed+x.level[i].span <= r {
			traversed += x.level[i].span
			x = x.level[i].next
		}
		if traversed == r {
			return x
		}
	}
	return nil
}

// firstAtLeast returns the first node with a score in range of min.
func (z *zset) firstInRange(min float64, minEx bool) *zskipNode {
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for x.level[i].next != nil && !scoreAbove(x.level[i].next.score, min, minEx) {
			x = x.level[i].next
		}
	}
	return x.level[0].next
}

// lastInRange returns the last node with a score not above max.
func (z *zset) lastInRange(max float64, maxEx bool) *zskipNode {
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for x.level[i].next != nil && scoreBelow(x.level[i].next.score, max, maxEx) {
			x = x.level[i].next
		}
	}
	if x == z.head {
		return nil
	}
	return x
}

func scoreAbove(s, min float64, ex bool) bool {
	if ex {
		return s > min
	}
	return s >= min
}

func scoreBelow(s, max float64, ex bool) bool {
	if ex {
		return s < max
	}
	return s <= max
}

func (z *zset) encoding() string {
	if z.len() <= 128 && z.bytes/int64(max(z.len(), 1)) <= 64 {
		return "listpack"
	}
	return "skiplist"
}

func (z *zset) memSize() int64 { return z.bytes + int64(z.len())*96 }

func (z *zset) clone() any {
	cp := newZset()
	for m, s := range z.scores {
		cp.add([]byte(m), s)
	}
	return cp
}
