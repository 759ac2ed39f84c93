package page

import (
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
type Node struct {
	// Raw is the checked page the node was decoded from, nil for a node being built or
	// changed. Readers read it alone (RawLeafKey, RawBranchKey, RawBranchChild,
	// RawLeafValue): its slot array and cells sit in one buffer, where Keys, Vals and
	// Children are three more. It comes first so that a reader's look at a node touches
	// one cache line of the Node.
	Raw  []byte
	Type byte
	Pgno uint32
	LSN  uint64
	Next uint32 // leaf: right sibling; overflow, free: next page in the chain
	Prev uint32 // leaf: left sibling
	// FirstBkt and LastBkt are the first 4 bytes (big-endian) of a decoded leaf's first
	// and last keys, set when Bkts is: a cursor knows from them, beside the fields it reads
	// anyway, whether the whole leaf lies in its bucket, without reading a key's cell.
	FirstBkt, LastBkt uint32
	Bkts              bool
	Keys              [][]byte // leaf and branch
	Vals              []Value  // leaf
	Children          []uint32 // branch: len(Keys)+1 children; keys[i] is the least key of Children[i+1]
	Data              []byte   // overflow
	// Ents locates each entry of a decoded leaf in Raw, 8 bytes an entry, so that a cursor
	// stepping through a leaf finds keys and values without reading the cells' headers
	// (nor Keys' and Vals' 64 bytes an entry). Nil when Raw is.
	Ents []Ent
}

// Ent is where a leaf entry lies in its page: its cell at Off, a key of KLen bytes, then
// VLen bytes of inline value, or (Ovfl) a reference to overflow pages.
type Ent struct {
	Off  uint16
	KLen uint16
	VLen uint16 // inline values only: an inline value is less than a page, at most 64 KiB
	Ovfl bool
}

// Entry returns entry i of a decoded leaf: its key and inline value, and false for a value
// in overflow pages (whose reference RawLeafValue reads). It reads only Ents until the
// caller reads the bytes.
func (n *Node) Entry(i int) (k, v []byte, inline bool) {
	e := n.Ents[i]
	ks := int(e.Off) + 7
	ke := ks + int(e.KLen)
	ve := ke + int(e.VLen)
	return n.Raw[ks:ke:ke], n.Raw[ke:ve:ve], !e.Ovfl
}

// Clone returns a copy of n whose slices can be changed without touching n's.
func (n *Node) Clone() *Node {
	c := *n
	c.Raw, c.Ents, c.Bkts = nil, nil, false
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
				n.Ents[i] = Ent{Off: uint16(off), KLen: uint16(klen), VLen: uint16(vlen)}
			case flagOverflow:
				if 7+klen+4 > len(c) {
					return nil, corrupt(pgno, "slot %d overflow reference overruns the page", i)
				}
				first := binary.LittleEndian.Uint32(c[7+klen:])
				if first == 0 {
					return nil, corrupt(pgno, "slot %d overflow reference to page 0", i)
				}
				n.Vals[i] = Value{Ovfl: first, Len: vlen}
				n.Ents[i] = Ent{Off: uint16(off), KLen: uint16(klen), Ovfl: true}
			default:
				return nil, corrupt(pgno, "slot %d has unknown flags %#x", i, c[0])
			}
		}
		if count > 0 && len(n.Keys[0]) >= 4 && len(n.Keys[count-1]) >= 4 {
			n.FirstBkt = binary.BigEndian.Uint32(n.Keys[0])
			n.LastBkt = binary.BigEndian.Uint32(n.Keys[count-1])
			n.Bkts = true
		}
	case TypeBranch:
		n.Children = make([]uint32, count+1)
		n.Children[0] = aux
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
		}
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
