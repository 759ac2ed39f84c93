package testenv

import (
	"context"
	"net"
	"testing"
	"time"
)

// Server is what every gantry server has: Serve runs it on a listener until Shutdown.
type Server interface {
	Serve(ctx context.Context, ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// Serve runs srv on a free loopback port until the test ends and returns the address.
// When the test ends it shuts srv down, giving it five seconds to drain, and fails the
// test if Shutdown or Serve returns an error: a server that does not stop cleanly is a
// bug the test should see.
func Serve(t testing.TB, srv Server) string {
	t.Helper()
	addr, served := ServeOwn(t, srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// ServeOwn runs srv on a free loopback port and returns the address and the channel
// that Serve's result arrives on, for a test of Shutdown itself: the test shuts srv
// down and reads what Serve returned.
func ServeOwn(t testing.TB, srv Server) (addr string, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	return ln.Addr().String(), done
}
