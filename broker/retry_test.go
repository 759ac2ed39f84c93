package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// dropProxy relays Kafka connections to a broker and, every nth Produce answer, drops
// the answer and cuts the connection: the client cannot know whether its records were
// written, and must retry them.
type dropProxy struct {
	ln      net.Listener
	target  string
	every   int64
	seen    atomic.Int64
	dropped atomic.Int64
	wg      sync.WaitGroup
}

func (p *dropProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.relay(c)
		}()
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

func (p *dropProxy) relay(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	defer client.Close()
	defer server.Close()
	keys := make(chan int16, 64) // API keys of requests in flight, in order
	go func() {
		defer server.Close()
		for {
			f, err := readFrame(client)
			if err != nil || len(f) < 6 {
				return
			}
			keys <- int16(binary.BigEndian.Uint16(f[4:]))
			if _, err := server.Write(f); err != nil {
				return
			}
		}
	}()
	for {
		f, err := readFrame(server)
		if err != nil {
			return
		}
		if <-keys == 0 && p.seen.Add(1)%p.every == 0 {
			p.dropped.Add(1)
			return // the answer is lost with the connection
		}
		if _, err := client.Write(f); err != nil {
			return
		}
	}
}

// TestIdempotentRetriesMakeNoDuplicates produces through a proxy that loses produce
// answers, so that franz-go retries batches the broker has already written; the
// broker recognises them by their sequence numbers and writes each record once.
func TestIdempotentRetriesMakeNoDuplicates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, Config{AdvertisedAddr: ln.Addr().String()}) // clients come back through the proxy
	p := &dropProxy{ln: ln, target: b.addr, every: 7}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	createTopic(t, b.addr, "once", 2, nil)

	cl := newClient(t, ln.Addr().String(), kgo.ProducerLinger(time.Millisecond), kgo.RequestRetries(100))
	const n = 2000
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: "once", Key: fmt.Appendf(nil, "k%d", i%10), Value: fmt.Appendf(nil, "%d", i)}
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
		if i%100 == 99 {
			cl.Flush(context.Background()) // spread the records over many requests
		}
	}
	cl.Flush(context.Background())
	if failed.Load() > 0 {
		t.Fatalf("%d records failed", failed.Load())
	}
	if p.dropped.Load() == 0 {
		t.Fatal("the proxy dropped no answer: nothing was retried")
	}
	got := consumeAll(t, b.addr, "once")
	seen := map[string]int{}
	last := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
		var v int
		fmt.Sscan(string(r.Value), &v)
		if prev, ok := last[string(r.Key)]; ok && v < prev {
			t.Fatalf("key %s: %d after %d", r.Key, v, prev)
		}
		last[string(r.Key)] = v
	}
	for v, c := range seen {
		if c > 1 {
			t.Fatalf("record %s written %d times", v, c)
		}
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("%d records, %d distinct, want %d", len(got), len(seen), n)
	}
	t.Logf("%d produce answers dropped and retried; %d records, each once", p.dropped.Load(), len(got))
}
