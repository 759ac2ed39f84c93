package proxy

import (
	"bytes"
	"math"

	"golang.org/x/net/http2/hpack"
)

// hpackEncoder encodes the header blocks one HTTP/2 connection sends (RFC 7541), making
// hpack.Encoder's choices byte for byte: a field found in a table goes as its index; any
// other goes as a literal (naming a table's entry for its name when there is one), added
// to the dynamic table when it fits and is not marked sensitive; strings are
// Huffman-coded where that is shorter. It differs in how it searches: hpack.Encoder
// looks up each field's name and value, hashed, in maps of both tables, which was a
// twentieth of the HTTP/2 paths' CPU. Here a name is compared with the few static names
// of its length, and the dynamic table (a few dozen entries at most) is scanned newest
// first.
type hpackEncoder struct {
	w       *bytes.Buffer
	table   []hpack.HeaderField // the dynamic table, oldest first
	size    uint32              // the table's size as RFC 7541 section 4.1 counts it
	max     uint32              // the table's maximum size
	update  bool                // a dynamic table size update is due before the next field
	minSeen uint32              // the smallest maximum set since the last update was sent
}

// hpackTableSize is the dynamic table size the encoder uses, the protocol's default: a
// peer may lower it (SETTINGS_HEADER_TABLE_SIZE), never raise it.
const hpackTableSize = 4096

func newHpackEncoder(w *bytes.Buffer) *hpackEncoder {
	return &hpackEncoder{w: w, max: hpackTableSize, minSeen: math.MaxUint32}
}

// SetMaxDynamicTableSizeLimit applies the peer's SETTINGS_HEADER_TABLE_SIZE: the table is
// cut down to it and the new size is announced at the start of the next block. A peer that
// raises it again gets the table back, up to hpackTableSize (where hpack.Encoder keeps the
// lower size).
func (e *hpackEncoder) SetMaxDynamicTableSizeLimit(v uint32) {
	v = min(v, hpackTableSize)
	if v == e.max {
		return
	}
	e.max, e.update = v, true
	e.minSeen = min(e.minSeen, v)
	e.evict(0)
}

// WriteField encodes f into the block being built.
func (e *hpackEncoder) WriteField(f hpack.HeaderField) {
	b := e.w.AvailableBuffer()
	if e.update {
		// Every lowering since the last block is seen by the peer (section 4.2).
		if e.minSeen < e.max {
			b = appendHpackInt(b, 0x20, 5, uint64(e.minSeen))
		}
		b = appendHpackInt(b, 0x20, 5, uint64(e.max))
		e.update, e.minSeen = false, math.MaxUint32
	}
	index, exact := e.search(f)
	switch {
	case exact:
		b = appendHpackInt(b, 0x80, 7, uint64(index))
	case f.Sensitive:
		b = appendHpackLiteral(b, 0x10, 4, index, f)
	case f.Size() > e.max:
		b = appendHpackLiteral(b, 0x00, 4, index, f)
	default:
		b = appendHpackLiteral(b, 0x40, 6, index, f)
		e.add(f)
	}
	e.w.Write(b)
}

// search returns the index of the field f (exact), or else of a field of its name (0:
// none). A sensitive field is never sent as an index, so only its name is looked for.
func (e *hpackEncoder) search(f hpack.HeaderField) (index int, exact bool) {
	name, value, anyValue := f.Name, f.Value, !f.Sensitive
	if len(name) < len(hpackStaticByLen) {
		for _, i := range hpackStaticByLen[len(name)] {
			if hpackStatic[i-1].Name == name {
				index = int(i)
				break
			}
		}
		for j := index; j > 0 && hpackStatic[j-1].Name == name; j-- {
			if anyValue && hpackStatic[j-1].Value == value {
				return j, true
			}
		}
	}
	for i := len(e.table) - 1; i >= 0; i-- {
		t := &e.table[i]
		if t.Name != name {
			continue
		}
		at := len(hpackStatic) + len(e.table) - i
		if anyValue && t.Value == value {
			return at, true
		}
		if index == 0 {
			index = at
		}
	}
	return index, false
}

// add puts f in the dynamic table, evicting the oldest entries to make room.
func (e *hpackEncoder) add(f hpack.HeaderField) {
	e.evict(f.Size())
	e.table = append(e.table, f)
	e.size += f.Size()
}

// evict drops the oldest entries until room more bytes fit within the maximum.
func (e *hpackEncoder) evict(room uint32) {
	n := 0
	for n < len(e.table) && e.size+room > e.max {
		e.size -= e.table[n].Size()
		n++
	}
	if n > 0 {
		e.table = append(e.table[:0], e.table[n:]...)
	}
}

// appendHpackLiteral appends a literal field: the representation's first bits, the name's
// index in prefix bits (or 0 and the name), then the value.
func appendHpackLiteral(b []byte, first byte, prefix uint8, nameIndex int, f hpack.HeaderField) []byte {
	b = appendHpackInt(b, first, prefix, uint64(nameIndex))
	if nameIndex == 0 {
		b = appendHpackString(b, f.Name)
	}
	return appendHpackString(b, f.Value)
}

// appendHpackString appends s as an HPACK string literal, Huffman-coded if shorter.
func appendHpackString(b []byte, s string) []byte {
	if n := hpack.HuffmanEncodeLength(s); n < uint64(len(s)) {
		b = appendHpackInt(b, 0x80, 7, n)
		return hpack.AppendHuffmanString(b, s)
	}
	b = appendHpackInt(b, 0, 7, uint64(len(s)))
	return append(b, s...)
}

// appendHpackInt appends i as an HPACK integer with a prefix of the given bits, the bits
// above them set as in first (RFC 7541 section 5.1).
func appendHpackInt(b []byte, first byte, prefix uint8, i uint64) []byte {
	limit := uint64(1)<<prefix - 1
	if i < limit {
		return append(b, first|byte(i))
	}
	b = append(b, first|byte(limit))
	for i -= limit; i >= 0x80; i >>= 7 {
		b = append(b, byte(i)|0x80)
	}
	return append(b, byte(i))
}

// hpackStatic is the static table (RFC 7541 appendix A); index i is hpackStatic[i-1].
var hpackStatic = [...]hpack.HeaderField{
	{Name: ":authority"},
	{Name: ":method", Value: "GET"},
	{Name: ":method", Value: "POST"},
	{Name: ":path", Value: "/"},
	{Name: ":path", Value: "/index.html"},
	{Name: ":scheme", Value: "http"},
	{Name: ":scheme", Value: "https"},
	{Name: ":status", Value: "200"},
	{Name: ":status", Value: "204"},
	{Name: ":status", Value: "206"},
	{Name: ":status", Value: "304"},
	{Name: ":status", Value: "400"},
	{Name: ":status", Value: "404"},
	{Name: ":status", Value: "500"},
	{Name: "accept-charset"},
	{Name: "accept-encoding", Value: "gzip, deflate"},
	{Name: "accept-language"},
	{Name: "accept-ranges"},
	{Name: "accept"},
	{Name: "access-control-allow-origin"},
	{Name: "age"},
	{Name: "allow"},
	{Name: "authorization"},
	{Name: "cache-control"},
	{Name: "content-disposition"},
	{Name: "content-encoding"},
	{Name: "content-language"},
	{Name: "content-length"},
	{Name: "content-location"},
	{Name: "content-range"},
	{Name: "content-type"},
	{Name: "cookie"},
	{Name: "date"},
	{Name: "etag"},
	{Name: "expect"},
	{Name: "expires"},
	{Name: "from"},
	{Name: "host"},
	{Name: "if-match"},
	{Name: "if-modified-since"},
	{Name: "if-none-match"},
	{Name: "if-range"},
	{Name: "if-unmodified-since"},
	{Name: "last-modified"},
	{Name: "link"},
	{Name: "location"},
	{Name: "max-forwards"},
	{Name: "proxy-authenticate"},
	{Name: "proxy-authorization"},
	{Name: "range"},
	{Name: "referer"},
	{Name: "refresh"},
	{Name: "retry-after"},
	{Name: "server"},
	{Name: "set-cookie"},
	{Name: "strict-transport-security"},
	{Name: "transfer-encoding"},
	{Name: "user-agent"},
	{Name: "vary"},
	{Name: "via"},
	{Name: "www-authenticate"},
}

// hpackStaticByLen lists, for each name length, the last index of each name of that
// length in the static table (the index hpack.Encoder names a literal by): a lookup
// compares a name with a handful of others of its length, without hashing it.
var hpackStaticByLen = func() (t [28][]uint8) {
	for i, f := range hpackStatic {
		if i+1 < len(hpackStatic) && hpackStatic[i+1].Name == f.Name {
			continue
		}
		t[len(f.Name)] = append(t[len(f.Name)], uint8(i+1))
	}
	return t
}()
