package proxy

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Header blocks: a HEADERS frame and the CONTINUATION frames that follow it, read and
// written by both HTTP/2 sides of the proxy (the listener, h2server.go, and the client of
// h2 pools, h2client.go).
//
// The proxy decodes blocks itself rather than through the Framer's ReadMetaHeaders, which
// makes a frame struct, a closure and a growing field list for every block: here the
// decoder and the field list are the connection's, kept from block to block, so a block
// costs nothing but the strings the decoder makes. The checks are the ones a peer's block
// must pass (RFC 9113 sections 8.2 and 8.3): names in lower case and tokens, values free
// of control bytes, pseudo-fields first, known, and not repeated, and the whole list
// within the size we announced in SETTINGS_MAX_HEADER_LIST_SIZE. A block whose frames run
// far past that size ends the connection, whether or not they decode to fields. (Blocks
// are encoded by hpackEncoder, h2encoder.go.)

// h2Block is one decoded header block.
type h2Block struct {
	streamID  uint32
	ended     bool                // END_STREAM: the block ends the stream
	truncated bool                // the list passed its limit: fields holds what came before
	fields    []hpack.HeaderField // pseudo-fields first; the next block reuses the slice
	pseudo    int                 // how many of fields are pseudo-fields
}

func (b *h2Block) pseudoFields() []hpack.HeaderField  { return b.fields[:b.pseudo] }
func (b *h2Block) regularFields() []hpack.HeaderField { return b.fields[b.pseudo:] }

// keepRegular returns a copy of the regular fields, for a stream that keeps them after
// the next block is read.
func (b *h2Block) keepRegular() []hpack.HeaderField {
	r := b.regularFields()
	if len(r) == 0 {
		return nil
	}
	return append(make([]hpack.HeaderField, 0, len(r)), r...)
}

// pseudoValue returns the value of the pseudo-field name (without its colon), or "".
func (b *h2Block) pseudoValue(name string) string {
	for _, f := range b.pseudoFields() {
		if f.Name[1:] == name {
			return f.Value
		}
	}
	return ""
}

// h2BlockReader decodes the header blocks of one connection's frames. Only the
// connection's reading goroutine uses it.
type h2BlockReader struct {
	fr      *http2.Framer
	dec     *hpack.Decoder
	limit   uint32 // the header list size announced to the peer
	b       h2Block
	left    uint32 // what the block's list may still take
	invalid error  // the first field that made the block malformed
}

func newH2BlockReader(fr *http2.Framer, limit uint32) *h2BlockReader {
	r := &h2BlockReader{fr: fr, limit: limit}
	r.dec = hpack.NewDecoder(4096, r.emit)
	r.dec.SetMaxStringLength(int(limit))
	return r
}

// read decodes the block that hf starts, reading its CONTINUATION frames. A malformed
// block is a StreamError (the decoder's state holds, so the connection goes on); a block
// that cannot be decoded, or that goes on far past the limit, is a ConnectionError. The
// block is valid until the next call.
func (r *h2BlockReader) read(hf *http2.HeadersFrame) (*h2Block, error) {
	b := &r.b
	*b = h2Block{streamID: hf.StreamID, ended: hf.StreamEnded(), fields: b.fields[:0]}
	r.left, r.invalid = r.limit, nil
	r.dec.SetEmitEnabled(true)
	frag, done := hf.HeaderBlockFragment(), hf.HeadersEnded()
	total := 0
	for {
		// A block far longer than its list may be (four times the limit: no list within
		// the limit encodes longer, Huffman codes included), frames that still come once
		// the list passed its limit, or more after a malformed field, are not decoded:
		// a peer flooding the connection with CONTINUATION frames is cut off.
		total += len(frag)
		if total > 4*int(r.limit) || b.truncated && len(frag) > 0 || r.invalid != nil {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := r.dec.Write(frag); err != nil {
			return nil, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if done {
			break
		}
		f, err := r.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		cf := f.(*http2.ContinuationFrame) // the Framer checks the frames' order
		frag, done = cf.HeaderBlockFragment(), cf.HeadersEnded()
	}
	if err := r.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if r.invalid == nil {
		r.invalid = checkPseudoFields(b.pseudoFields())
	}
	if r.invalid != nil {
		return nil, http2.StreamError{StreamID: b.streamID, Code: http2.ErrCodeProtocol, Cause: r.invalid}
	}
	return b, nil
}

// emit takes one decoded field.
func (r *h2BlockReader) emit(f hpack.HeaderField) {
	b := &r.b
	pseudo := strings.HasPrefix(f.Name, ":")
	switch {
	case !validFieldValue(f.Value):
		r.invalid = fmt.Errorf("invalid value of field %q", f.Name)
	case pseudo && len(b.fields) > b.pseudo:
		r.invalid = errors.New("pseudo-field after a regular field")
	case !pseudo && !validFieldName(f.Name):
		r.invalid = fmt.Errorf("invalid field name %q", f.Name)
	}
	if r.invalid != nil {
		r.dec.SetEmitEnabled(false)
		return
	}
	size := f.Size()
	if size > r.left {
		// What follows is decoded (the decoder's table must stay in step with the
		// peer's) but not kept.
		b.truncated = true
		r.left = 0
		r.dec.SetEmitEnabled(false)
		return
	}
	r.left -= size
	b.fields = append(b.fields, f)
	if pseudo {
		b.pseudo++
	}
}

// checkPseudoFields checks that pseudo-fields are known, not repeated, and all of a
// request or all of a response.
func checkPseudoFields(fs []hpack.HeaderField) error {
	var request, response bool
	for i, f := range fs {
		switch f.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			request = true
		case ":status":
			response = true
		default:
			return fmt.Errorf("unknown pseudo-field %q", f.Name)
		}
		for _, g := range fs[:i] {
			if g.Name == f.Name {
				return fmt.Errorf("repeated pseudo-field %q", f.Name)
			}
		}
	}
	if request && response {
		return errors.New("request and response pseudo-fields mixed")
	}
	return nil
}

// validFieldName reports whether name is a token in lower case, as HTTP/2 field names
// must be.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !tokenChars[c] || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// writeHeaderBlock writes the header block b as one HEADERS frame and as many
// CONTINUATION frames as the peer's frame size needs.
func writeHeaderBlock(fr *http2.Framer, id uint32, b []byte, maxFrame int, end bool) {
	first := true
	for first || len(b) > 0 {
		n := min(len(b), maxFrame)
		frag := b[:n]
		b = b[n:]
		if first {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: len(b) == 0})
		} else {
			fr.WriteContinuation(id, len(b) == 0, frag)
		}
		first = false
	}
}
