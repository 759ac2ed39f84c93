package proxy

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

// TestWriteHeaderBlock: a header block goes out as one HEADERS frame and as many
// CONTINUATION frames as the peer's frame size needs, END_HEADERS on the last only, and
// reads back whole.
func TestWriteHeaderBlock(t *testing.T) {
	for _, tc := range []struct {
		size, maxFrame, frames int
		end                    bool
	}{
		{0, 16384, 1, true},
		{1, 16384, 1, false},
		{16384, 16384, 1, true},
		{16385, 16384, 2, false},
		{40000, 16384, 3, true},
		{100, 16, 7, false},
	} {
		block := make([]byte, tc.size)
		for i := range block {
			block[i] = byte(i)
		}
		var wire bytes.Buffer
		writeHeaderBlock(http2.NewFramer(&wire, nil), 5, block, tc.maxFrame, tc.end)

		fr := http2.NewFramer(nil, &wire)
		var got []byte
		for i := 0; i < tc.frames; i++ {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("size %d: frame %d: %v", tc.size, i, err)
			}
			last := i == tc.frames-1
			switch f := f.(type) {
			case *http2.HeadersFrame:
				if i != 0 || f.StreamID != 5 || f.StreamEnded() != tc.end || f.HeadersEnded() != last {
					t.Fatalf("size %d: frame %d is HEADERS %+v", tc.size, i, f.Header())
				}
				got = append(got, f.HeaderBlockFragment()...)
			case *http2.ContinuationFrame:
				if i == 0 || f.StreamID != 5 || f.HeadersEnded() != last {
					t.Fatalf("size %d: frame %d is CONTINUATION %+v", tc.size, i, f.Header())
				}
				got = append(got, f.HeaderBlockFragment()...)
			default:
				t.Fatalf("size %d: frame %d is %T", tc.size, i, f)
			}
			if int(f.Header().Length) > tc.maxFrame {
				t.Errorf("size %d: frame %d is %d bytes, over %d", tc.size, i, f.Header().Length, tc.maxFrame)
			}
		}
		if wire.Len() != 0 || !bytes.Equal(got, block) {
			t.Errorf("size %d: %d bytes left over; block read back equal: %v", tc.size, wire.Len(), bytes.Equal(got, block))
		}
	}
}
