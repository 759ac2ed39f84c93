package page

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Page types.
const (
	TypeMeta     = 1
	TypeBranch   = 2
	TypeLeaf     = 3
	TypeOverflow = 4
	TypeFree     = 5
)

// HeaderSize is the size of the header at the start of every page.
const HeaderSize = 32

// Format identifies files written by this package.
const (
	Magic   = "GANTRYDB"
	Version = 1
)

// MinSize and MaxSize bound the page size; a page size is a power of two.
const (
	MinSize = 1024
	MaxSize = 64 * 1024
)

const flagOverflow = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about a damaged page.
var ErrCorrupt = errors.New("page corrupt")

// CorruptError reports a damaged page and its number.
type CorruptError struct {
	Pgno   uint32
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("page %d corrupt: %s", e.Pgno, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(pgno uint32, format string, args ...any) error {
	return &CorruptError{Pgno: pgno, Reason: fmt.Sprintf(format, args...)}
}

// Checksum returns the CRC32C of page p, leaving out the checksum field.
func Checksum(p []byte) uint32 {
	c := crc32.Update(0, castagnoli, p[:4])
	return crc32.Update(c, castagnoli, p[8:])
}

// Seal stores lsn and the checksum in page p.
func Seal(p []byte, lsn uint64) {
	binary.LittleEndian.PutUint64(p[8:], lsn)
	binary.LittleEndian.PutUint32(p[4:], Checksum(p))
}

// Verify checks page p's checksum and that it is page pgno.
func Verify(p []byte, pgno uint32) error {
	if len(p) < HeaderSize {
		return corrupt(pgno, "short page (%d bytes)", len(p))
	}
	if got, want := binary.LittleEndian.Uint32(p[4:]), Checksum(p); got != want {
		return corrupt(pgno, "checksum %08x, computed %08x", got, want)
	}
	if got := binary.LittleEndian.Uint32(p[16:]); got != pgno {
		return corrupt(pgno, "page says it is page %d", got)
	}
	return nil
}

// LSN returns the log sequence number stored in page p.
func LSN(p []byte) uint64 { return binary.LittleEndian.Uint64(p[8:]) }

// Value is a leaf's value: inline bytes, or the first of the overflow pages that hold it.
type Value struct {
	Inline []byte
	Ovfl   uint32 // first overflow page; 0 means the value is inline
	Len    uint32 // length of the value
}

// Node is a decoded page. Decode's slices point into the page buffer, which the caller
// must not change afterwards; a Node is copied (Clone) before it is modified.
//
// The fields a reader touches (Raw, Ents, Plen, Type, LSN, Next, Prev, the buckets) come
// first, so that a reader's look at a cached node touches one or two cache lines of it;
// Keys, Vals and Children, which only writers and nodes without a page use, come last.
type Node struct {
	// Raw is the checked page the node was decoded from, nil for a node being built or
	// changed. Readers read it alone (with Ents): its slot array and cells sit in one
	// buffer, where Keys, Vals and Children are three more.
	Raw []byte
	// Ents locates each entry of a decoded leaf or branch in Raw, with the head of its key
	// (Ent), so that a search compares 8-byte heads in one small array instead of reading
	// keys scattered over the page, and a cursor stepping through a leaf finds keys and
	// values without reading the cells' headers. Nil when Raw is.
	Ents []Ent
	// Plen is the length of the prefix every key of the node shares (that of its first
	// and last keys): heads are the 8 bytes after it.
	Plen uint16
	Type byte
	Bkts bool // FirstBkt and LastBkt are set
	Pgno uint32
	LSN  uint64
	Next uint32 // leaf: right sibling; overflow, free: next page in the chain
	Prev uint32 // leaf: left sibling
	// FirstBkt and LastBkt are the first 4 bytes (big-endian) of a decoded leaf's first
	// and last keys, set when Bkts is: a cursor knows from them, beside the fields it reads
	// anyway, whether the whole leaf lies in its bucket, without reading a key's cell.
	FirstBkt, LastBkt uint32
	// pre holds the prefix when it is at most preMax bytes long, beside the fields a
	// search reads anyway: a search then reads no key's cell to compare k with it.
	pre      [preMax]byte
	Keys     [][]byte // leaf and branch
	Vals     []Value  // leaf
	Children []uint32 // branch: len(Keys)+1 children; keys[i] is the least key of Children[i+1]
	Data     []byte   // overflow
}

// preMax is the longest prefix a Node holds inline (pre): 24 bytes fill the space left
// before Keys, and hold a bucket's 4 bytes and 20 of its keys'.
const preMax = 24

// Ent is where a leaf entry or a branch separator lies in its page, with the head of its
// key: its cell at Off, a key of KLen bytes. Aux is, in a leaf, the inline value's length
// (an inline value is less than a page, at most 64 KiB) or entOvfl for a value in overflow
// pages; in a branch, the child right of the separator.
type Ent struct {
	Head uint64 // the key's 8 bytes after the node's prefix (Plen), big-endian, zero-padded
	Off  uint16
	KLen uint16
	Aux  uint32
}

const entOvfl = 1 << 31

// Count returns the number of entries (leaf) or separators (branch) of n.
func (n *Node) Count() int {
	if n.Ents != nil {
		return len(n.Ents)
	}
	return len(n.Keys)
}

// Entry returns entry i of a decoded leaf: its key and inline value, and false for a value
// in overflow pages (whose reference RawLeafValue reads). It reads only Ents until the
// caller reads the bytes.
func (n *Node) Entry(i int) (k, v []byte, inline bool) {
	e := n.Ents[i]
	ks := int(e.Off) + 7
	ke := ks + int(e.KLen)
	ve := ke + int(e.Aux&0xffff)
	return n.Raw[ks:ke:ke], n.Raw[ke:ve:ve], e.Aux&entOvfl == 0
}

// Child returns child i of a decoded branch: the leftmost child for i == 0, else the
// child right of separator i-1. It reads Ents (or the header), not the cells.
func (n *Node) Child(i int) uint32 {
	if i == 0 {
		return binary.LittleEndian.Uint32(n.Raw[28:])
	}
	return n.Ents[i-1].Aux
}

// key returns key i of a decoded leaf or branch, from its cell.
func (n *Node) key(i int) []byte {
	e := n.Ents[i]
	ks := int(e.Off) + 7
	if n.Type == TypeBranch {
		ks--
	}
	return n.Raw[ks : ks+int(e.KLen)]
}

// head returns the 8 bytes of k from off on as a big-endian number, zero-padded: for keys
// that share their first off bytes, head is monotone in the byte-wise order.
func head(k []byte, off int) uint64 {
	if off >= len(k) {
		return 0
	}
	k = k[off:]
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// Search returns the index of the first key of a decoded leaf or branch that is >= k, and
// whether it equals k. It compares k with the node's prefix (one cell read), then k's head
// with the entries' heads; only entries whose head equals k's have their keys read, and
// not even those when the heads cover both keys whole (their lengths then decide).
func (n *Node) Search(k []byte) (int, bool) {
	ents := n.Ents
	if len(ents) == 0 {
		return 0, false
	}
	p := int(n.Plen)
	if p > 0 {
		var pre []byte
		if p <= preMax {
			pre = n.pre[:p]
		} else {
			pre = n.key(0)[:p] // Decode keeps Plen within the first key
		}
		if len(k) < p {
			// k cannot have the prefix: it sorts before every key unless it is past the prefix.
			if bytes.Compare(k, pre[:len(k)]) <= 0 {
				return 0, false
			}
			return len(ents), false
		}
		if c := bytes.Compare(k[:p], pre); c != 0 {
			if c < 0 {
				return 0, false
			}
			return len(ents), false
		}
	}
	hk := head(k, p)
	lo, hi := 0, len(ents)
	for lo < hi { // first head >= hk
		m := int(uint(lo+hi) >> 1)
		if ents[m].Head < hk {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(ents) || ents[lo].Head != hk {
		return lo, false
	}
	end, h := lo+1, len(ents)
	for end < h { // first head > hk
		m := int(uint(end+h) >> 1)
		if ents[m].Head == hk {
			end = m + 1
		} else {
			h = m
		}
	}
	// Among entries [lo, end) whose heads equal k's: by length when the heads hold both
	// keys whole, else by the keys' bytes.
	rest := len(k) - p
	for lo < end {
		m := int(uint(lo+end) >> 1)
		var c int
		if kl := int(ents[m].KLen) - p; rest <= 8 && kl <= 8 {
			c = kl - rest
		} else {
			c = bytes.Compare(n.key(m), k)
		}
		switch {
		case c < 0:
			lo = m + 1
		case c > 0:
			end = m
		default:
			return m, true
		}
	}
	return lo, false
}

// Clone returns a copy of n whose slices can be changed without touching n's.
func (n *Node) Clone() *Node {
	c := *n
	c.Raw, c.Ents, c.Plen, c.Bkts = nil, nil, 0, false
	c.Keys = append([][]byte(nil), n.Keys...)
	c.Vals = append([]Value(nil), n.Vals...)
	c.Children = append([]uint32(nil), n.Children...)
	return &c
}

// LeafCellSize is the space a leaf entry takes, slot included.
func LeafCellSize(k []byte, v Value) int {
	if v.Ovfl != 0 {
		return 2 + 7 + len(k) + 4
	}
	return 2 + 7 + len(k) + len(v.Inline)
}

// BranchCellSize is the space a branch separator takes, slot included.
func BranchCellSize(k []byte) int { return 2 + 6 + len(k) }

// Size returns the number of bytes n encodes to.
func (n *Node) Size() int {
	s := HeaderSize
	switch n.Type {
	case TypeLeaf:
		for i, k := range n.Keys {
			s += LeafCellSize(k, n.Vals[i])
		}
	case TypeBranch:
		for _, k := range n.Keys {
			s += BranchCellSize(k)
		}
	case TypeOverflow:
		s += len(n.Data)
	}
	return s
}

// Encode writes n into p, a whole page, and seals it with n.LSN. It fails if n does not fit.
func (n *Node) Encode(p []byte) error {
	if n.Size() > len(p) {
		return fmt.Errorf("page %d: node of %d bytes does not fit a %d-byte page", n.Pgno, n.Size(), len(p))
	}
	clear(p)
	p[0] = n.Type
	binary.LittleEndian.PutUint32(p[16:], n.Pgno)
	binary.LittleEndian.PutUint32(p[20:], n.Next)
	binary.LittleEndian.PutUint32(p[24:], n.Prev)
	end := len(p)
	slot := HeaderSize
	switch n.Type {
	case TypeLeaf:
		binary.LittleEndian.PutUint16(p[2:], uint16(len(n.Keys)))
		for i, k := range n.Keys {
			v := n.Vals[i]
			size := LeafCellSize(k, v) - 2
			end -= size
			c := p[end : end+size]
			if v.Ovfl != 0 {
				c[0] = flagOverflow
				binary.LittleEndian.PutUint32(c[7+len(k):], v.Ovfl)
				binary.LittleEndian.PutUint32(c[3:], v.Len)
			} else {
				copy(c[7+len(k):], v.Inline)
				binary.LittleEndian.PutUint32(c[3:], uint32(len(v.Inline)))
			}
			binary.LittleEndian.PutUint16(c[1:], uint16(len(k)))
			copy(c[7:], k)
			binary.LittleEndian.PutUint16(p[slot:], uint16(end))
			slot += 2
		}
	case TypeBranch:
		binary.LittleEndian.PutUint16(p[2:], uint16(len(n.Keys)))
		if len(n.Children) != len(n.Keys)+1 {
			return fmt.Errorf("page %d: branch with %d keys and %d children", n.Pgno, len(n.Keys), len(n.Children))
		}
		binary.LittleEndian.PutUint32(p[28:], n.Children[0])
		for i, k := range n.Keys {
			size := BranchCellSize(k) - 2
			end -= size
			c := p[end : end+size]
			binary.LittleEndian.PutUint32(c, n.Children[i+1])
			binary.LittleEndian.PutUint16(c[4:], uint16(len(k)))
			copy(c[6:], k)
			binary.LittleEndian.PutUint16(p[slot:], uint16(end))
			slot += 2
		}
	case TypeOverflow:
		binary.LittleEndian.PutUint32(p[28:], uint32(len(n.Data)))
		copy(p[HeaderSize:], n.Data)
	case TypeFree:
	default:
		return fmt.Errorf("page %d: cannot encode page type %d", n.Pgno, n.Type)
	}
	Seal(p, n.LSN)
	return nil
}

// Decode checks page p, which must be page pgno, and decodes it. The Node refers to p.
func Decode(p []byte, pgno uint32) (*Node, error) {
	if err := Verify(p, pgno); err != nil {
		return nil, err
	}
	n := &Node{
		Raw:  p,
		Type: p[0],
		Pgno: pgno,
		LSN:  LSN(p),
		Next: binary.LittleEndian.Uint32(p[20:]),
		Prev: binary.LittleEndian.Uint32(p[24:]),
	}
	count := int(binary.LittleEndian.Uint16(p[2:]))
	aux := binary.LittleEndian.Uint32(p[28:])
	if n.Type == TypeLeaf || n.Type == TypeBranch {
		if HeaderSize+2*count > len(p) {
			return nil, corrupt(pgno, "%d slots do not fit", count)
		}
		n.Keys = make([][]byte, count)
	}
	cellMin := HeaderSize + 2*count
	switch n.Type {
	case TypeLeaf:
		n.Vals = make([]Value, count)
		n.Ents = make([]Ent, count)
		for i := range count {
			off := int(binary.LittleEndian.Uint16(p[HeaderSize+2*i:]))
			if off < cellMin || off+7 > len(p) {
				return nil, corrupt(pgno, "slot %d offset %d out of range", i, off)
			}
			c := p[off:]
			klen := int(binary.LittleEndian.Uint16(c[1:]))
			vlen := binary.LittleEndian.Uint32(c[3:])
			if 7+klen > len(c) {
				return nil, corrupt(pgno, "slot %d key overruns the page", i)
			}
			n.Keys[i] = c[7 : 7+klen : 7+klen]
			switch c[0] {
			case 0:
				if uint64(7+klen)+uint64(vlen) > uint64(len(c)) || vlen > 0xffff {
					return nil, corrupt(pgno, "slot %d value overruns the page", i)
				}
				end := 7 + klen + int(vlen)
				n.Vals[i] = Value{Inline: c[7+klen : end : end], Len: vlen}
				n.Ents[i] = Ent{Off: uint16(off), KLen: uint16(klen), Aux: vlen}
			case flagOverflow:
				if 7+klen+4 > len(c) {
					return nil, corrupt(pgno, "slot %d overflow reference overruns the page", i)
				}
				first := binary.LittleEndian.Uint32(c[7+klen:])
				if first == 0 {
					return nil, corrupt(pgno, "slot %d overflow reference to page 0", i)
				}
				n.Vals[i] = Value{Ovfl: first, Len: vlen}
				n.Ents[i] = Ent{Off: uint16(off), KLen: uint16(klen), Aux: entOvfl}
			default:
				return nil, corrupt(pgno, "slot %d has unknown flags %#x", i, c[0])
			}
		}
		if count > 0 && len(n.Keys[0]) >= 4 && len(n.Keys[count-1]) >= 4 {
			n.FirstBkt = binary.BigEndian.Uint32(n.Keys[0])
			n.LastBkt = binary.BigEndian.Uint32(n.Keys[count-1])
			n.Bkts = true
		}
		n.setHeads()
	case TypeBranch:
		n.Children = make([]uint32, count+1)
		n.Children[0] = aux
		n.Ents = make([]Ent, count)
		for i := range count {
			off := int(binary.LittleEndian.Uint16(p[HeaderSize+2*i:]))
			if off < cellMin || off+6 > len(p) {
				return nil, corrupt(pgno, "slot %d offset %d out of range", i, off)
			}
			c := p[off:]
			klen := int(binary.LittleEndian.Uint16(c[4:]))
			if 6+klen > len(c) {
				return nil, corrupt(pgno, "slot %d key overruns the page", i)
			}
			n.Children[i+1] = binary.LittleEndian.Uint32(c)
			n.Keys[i] = c[6 : 6+klen : 6+klen]
			n.Ents[i] = Ent{Off: uint16(off), KLen: uint16(klen), Aux: n.Children[i+1]}
		}
		n.setHeads()
	case TypeOverflow:
		if int(aux) > len(p)-HeaderSize {
			return nil, corrupt(pgno, "overflow length %d exceeds the page", aux)
		}
		n.Data = p[HeaderSize : HeaderSize+int(aux) : HeaderSize+int(aux)]
	case TypeFree:
	case TypeMeta:
		return nil, corrupt(pgno, "meta page where a node was expected")
	default:
		return nil, corrupt(pgno, "unknown page type %d", n.Type)
	}
	return n, nil
}

// setHeads sets Plen, the length of the prefix of the first and last keys, which every
// key between shares, and each entry's head after it.
func (n *Node) setHeads() {
	if len(n.Keys) == 0 {
		return
	}
	a, b := n.Keys[0], n.Keys[len(n.Keys)-1]
	p := 0
	for p < min(len(a), len(b), 0xffff) && a[p] == b[p] {
		p++
	}
	n.Plen = uint16(p)
	copy(n.pre[:], a[:min(p, preMax)])
	for i, k := range n.Keys {
		n.Ents[i].Head = head(k, p)
	}
}

// RawLeafKey returns key i of leaf page p, which Decode has checked.
func RawLeafKey(p []byte, i int) []byte {
	off := int(binary.LittleEndian.Uint16(p[HeaderSize+2*i:]))
	end := off + 7 + int(binary.LittleEndian.Uint16(p[off+1:]))
	return p[off+7 : end : end]
}

// RawBranchKey returns separator i of branch page p, which Decode has checked.
func RawBranchKey(p []byte, i int) []byte {
	off := int(binary.LittleEndian.Uint16(p[HeaderSize+2*i:]))
	end := off + 6 + int(binary.LittleEndian.Uint16(p[off+4:]))
	return p[off+6 : end : end]
}

// RawBranchChild returns child i of branch page p, which Decode has checked: the leftmost
// child for i == 0, else the child of separator i-1.
func RawBranchChild(p []byte, i int) uint32 {
	if i == 0 {
		return binary.LittleEndian.Uint32(p[28:])
	}
	off := int(binary.LittleEndian.Uint16(p[HeaderSize+2*(i-1):]))
	return binary.LittleEndian.Uint32(p[off:])
}

// RawLeafValue returns value i of leaf page p, which Decode has checked.
func RawLeafValue(p []byte, i int) Value {
	_, v := RawLeafEntry(p, i)
	return v
}

// RawLeafEntry returns key i of leaf page p, which Decode has checked, and its value.
func RawLeafEntry(p []byte, i int) ([]byte, Value) {
	off := int(binary.LittleEndian.Uint16(p[HeaderSize+2*i:]))
	c := p[off:]
	kend := 7 + int(binary.LittleEndian.Uint16(c[1:]))
	vlen := binary.LittleEndian.Uint32(c[3:])
	k := c[7:kend:kend]
	if c[0] == flagOverflow {
		return k, Value{Ovfl: binary.LittleEndian.Uint32(c[kend:]), Len: vlen}
	}
	end := kend + int(vlen)
	return k, Value{Inline: c[kend:end:end], Len: vlen}
}
