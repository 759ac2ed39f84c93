package testenv

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrIsListenableLoopback(t *testing.T) {
	low := ephemeralLow()
	for i := 0; i < 20; i++ {
		addr := FreeAddr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("FreeAddr = %q, want 127.0.0.1:PORT", addr)
		}
		if p, _ := strconv.Atoi(port); low > 12000 && p >= low {
			t.Errorf("FreeAddr port %d is in the outgoing range from %d", p, low)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on FreeAddr's %s: %v", addr, err)
		}
		ln.Close()
	}
}
