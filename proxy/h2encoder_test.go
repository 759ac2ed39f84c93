package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// The integer examples of RFC 7541 appendix C.1.
func TestAppendHpackInt(t *testing.T) {
	for _, tc := range []struct {
		first  byte
		prefix uint8
		i      uint64
		want   []byte
	}{
		{0, 5, 10, []byte{0x0a}},
		{0, 5, 1337, []byte{0x1f, 0x9a, 0x0a}},
		{0, 8, 42, []byte{0x2a}},
		{0x80, 7, 126, []byte{0xfe}},
		{0x80, 7, 127, []byte{0xff, 0x00}},
		{0x40, 6, 63, []byte{0x7f, 0x00}},
	} {
		if got := appendHpackInt(nil, tc.first, tc.prefix, tc.i); !bytes.Equal(got, tc.want) {
			t.Errorf("%d in %d bits: % x; want % x", tc.i, tc.prefix, got, tc.want)
		}
	}
}

// hpackPair encodes the same blocks with the proxy's encoder and with hpack.Encoder, and
// decodes the proxy's with hpack.Decoder.
type hpackPair struct {
	t            testing.TB
	ours, theirs bytes.Buffer
	enc          *hpackEncoder
	ref          *hpack.Encoder
	dec          *hpack.Decoder
}

func newHpackPair(t testing.TB) *hpackPair {
	p := &hpackPair{t: t}
	p.enc = newHpackEncoder(&p.ours)
	p.ref = hpack.NewEncoder(&p.theirs)
	p.dec = hpack.NewDecoder(4096, nil)
	return p
}

// block encodes fs with both encoders and checks that the bytes are the same (when
// sameBytes) and that the proxy's decode to fs.
func (p *hpackPair) block(fs []hpack.HeaderField, sameBytes bool) {
	p.t.Helper()
	p.ours.Reset()
	p.theirs.Reset()
	for _, f := range fs {
		p.enc.WriteField(f)
		p.ref.WriteField(f)
	}
	if sameBytes && !bytes.Equal(p.ours.Bytes(), p.theirs.Bytes()) {
		p.t.Fatalf("block %v:\n ours   % x\n theirs % x", fs, p.ours.Bytes(), p.theirs.Bytes())
	}
	got, err := p.dec.DecodeFull(p.ours.Bytes())
	if err != nil {
		p.t.Fatalf("block %v: decoding % x: %v", fs, p.ours.Bytes(), err)
	}
	if !slices.Equal(got, fs) {
		p.t.Fatalf("block decoded to %v; want %v", got, fs)
	}
}

// TestHpackEncoder: blocks like a proxy's — pseudo-fields, repeated fields, fields that
// change, values too large for the table, sensitive fields — come out as hpack.Encoder's
// bytes and decode to what went in, over enough blocks to cycle the dynamic table.
func TestHpackEncoder(t *testing.T) {
	p := newHpackPair(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		fs := []hpack.HeaderField{
			{Name: ":method", Value: []string{"GET", "POST", "PUT"}[n%3]},
			{Name: ":scheme", Value: "https"},
			{Name: ":authority", Value: "example.test"},
			{Name: ":path", Value: fmt.Sprintf("/items/%d", rng.IntN(50))},
			{Name: "user-agent", Value: "client/1.0"},
			{Name: "x-request-id", Value: fmt.Sprintf("%016x", rng.Uint64())},
			{Name: "accept-encoding", Value: "gzip, deflate"},
		}
		switch n % 7 {
		case 0:
			fs = append(fs, hpack.HeaderField{Name: "authorization", Value: "Bearer secret", Sensitive: true},
				hpack.HeaderField{Name: ":method", Value: "GET", Sensitive: true})
		case 1:
			fs = append(fs, hpack.HeaderField{Name: "x-large", Value: strings.Repeat("v", 4100)})
		case 2:
			fs = append(fs, hpack.HeaderField{Name: "cookie", Value: "a=b"}, hpack.HeaderField{Name: "x-empty"})
		case 3:
			fs = append(fs, hpack.HeaderField{Name: "x-bytes", Value: string([]byte{0xff, 0x00, 0x7f, 'a'})})
		}
		p.block(fs, true)
	}
}

// TestHpackEncoderTableSize: the peer lowering the table's size (to 0 too) and raising it
// again is announced in the next block, and every block still decodes.
func TestHpackEncoderTableSize(t *testing.T) {
	p := newHpackPair(t)
	fs := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "x-a", Value: "one"}, {Name: "x-b", Value: "two"}}
	for _, size := range []uint32{4096, 100, 0, 50, 10, 4096, 8192, 0} {
		p.enc.SetMaxDynamicTableSizeLimit(size)
		p.dec.SetAllowedMaxDynamicTableSize(min(size, 4096))
		p.block(fs, false)
		p.block(fs, false)
		if p.enc.size > p.enc.max {
			t.Fatalf("limit %d: the table holds %d bytes", size, p.enc.size)
		}
	}
	// Two changes between blocks: the smaller goes first, then the final one.
	p.enc.SetMaxDynamicTableSizeLimit(64)
	p.enc.SetMaxDynamicTableSizeLimit(4096)
	p.ours.Reset()
	p.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	if want := []byte{0x3f, 0x21, 0x3f, 0xe1, 0x1f, 0x88}; !bytes.Equal(p.ours.Bytes(), want) {
		t.Errorf("block after two changes: % x; want % x", p.ours.Bytes(), want)
	}
}

// FuzzHpackEncoder: any sequence of fields encodes to hpack.Encoder's bytes and decodes
// back.
func FuzzHpackEncoder(f *testing.F) {
	f.Add([]byte("\x03:status\x03200\x04x-ab\x05hello"))
	f.Add(bytes.Repeat([]byte("\x05x-one\x10aaaaaaaaaaaaaaaa"), 300))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newHpackPair(t)
		var fs []hpack.HeaderField
		for len(data) > 0 {
			var name, value string
			name, data = fuzzString(data)
			value, data = fuzzString(data)
			if name == "" {
				name = "x"
			}
			fs = append(fs, hpack.HeaderField{Name: name, Value: value, Sensitive: len(value) == 13})
			if len(fs) == 8 {
				p.block(fs, true)
				fs = fs[:0]
			}
		}
		p.block(fs, true)
	})
}

// fuzzString takes a string of length given by data's first byte (scaled, so that some
// exceed the table) from data.
func fuzzString(data []byte) (string, []byte) {
	if len(data) == 0 {
		return "", nil
	}
	n := int(data[0])
	if n > 200 {
		n = int(binary.BigEndian.Uint16([]byte{data[0] - 200, 0})) / 4
	}
	data = data[1:]
	n = min(n, len(data))
	return string(data[:n]), data[n:]
}

// BenchmarkHpackEncoder encodes a proxied request's header block, after the first one
// filled the dynamic table, with the proxy's encoder and with hpack.Encoder.
func BenchmarkHpackEncoder(b *testing.B) {
	fs := []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "127.0.0.1:8443"}, {Name: ":path", Value: "/small"},
		{Name: "user-agent", Value: "h2load nghttp2/1.52.0"}, {Name: "accept", Value: "*/*"},
		{Name: "x-forwarded-for", Value: "127.0.0.1"}, {Name: "x-forwarded-proto", Value: "https"},
		{Name: "x-forwarded-host", Value: "127.0.0.1:8443"},
		{Name: "forwarded", Value: "for=127.0.0.1;host=\"127.0.0.1:8443\";proto=https"},
		{Name: "via", Value: "2.0 gantry"},
	}
	var buf bytes.Buffer
	ref := hpack.NewEncoder(&buf)
	for _, bc := range []struct {
		name  string
		write func(hpack.HeaderField)
	}{
		{"proxy", newHpackEncoder(&buf).WriteField},
		{"x-net", func(f hpack.HeaderField) { ref.WriteField(f) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				buf.Reset()
				for _, f := range fs {
					bc.write(f)
				}
			}
		})
	}
}
