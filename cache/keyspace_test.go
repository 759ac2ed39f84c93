package cache

import (
	"testing"
	"unsafe"
)

// An entry is paid for once per key: keep it within the 64-byte size class.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 64 {
		t.Fatalf("entry is %d bytes, want at most 64", n)
	}
}
