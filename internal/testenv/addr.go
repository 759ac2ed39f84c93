package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeAddr returns a loopback address ("127.0.0.1:PORT") that nothing listened on a moment
// ago, for a server a test starts in another process or starts twice at the same address.
//
// It picks the port below the kernel's range for outgoing connections
// (/proc/sys/net/ipv4/ip_local_port_range): a port from that range can be taken by any
// process's outgoing connection between this call and the test's listen, which made tests
// fail now and then on a busy machine. Where the range is not known it falls back to a port
// the kernel picks.
func FreeAddr(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	for i := 0; i < 50 && low > 12000; i++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(10000+rand.IntN(low-10000)))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ephemeralLow is the lowest port the kernel hands to outgoing connections.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
