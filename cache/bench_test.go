package cache

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"gantry/resp"
)

// pipelineCommands are bench/cache's commands with redis-benchmark's arguments.
var pipelineCommands = []struct{ name, cmd string }{
	{"SET", "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"},
	{"GET", "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n"},
	{"INCR", "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"},
	{"HSET", "*4\r\n$4\r\nHSET\r\n$6\r\nmyhash\r\n$20\r\nelement:__rand_int__\r\n$3\r\nxxx\r\n"},
	{"LPUSH", "*3\r\n$5\r\nLPUSH\r\n$6\r\nmylist\r\n$3\r\nxxx\r\n"},
	{"RPOP", "*2\r\n$4\r\nRPOP\r\n$6\r\nmylist\r\n"},
	{"SADD", "*3\r\n$4\r\nSADD\r\n$5\r\nmyset\r\n$20\r\nelement:__rand_int__\r\n"},
	{"ZADD", "*4\r\n$4\r\nZADD\r\n$6\r\nmyzset\r\n$1\r\n0\r\n$20\r\nelement:__rand_int__\r\n"},
	{"MSET", "*21\r\n$4\r\nMSET\r\n" + strings.Repeat("$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n", 10)},
}

// BenchmarkPipeline measures the server's hot path over loopback: one op is one
// command of a 16-command pipeline (what redis-benchmark -P 16 sends), the commands
// of bench/cache with redis-benchmark's arguments. Allocations include the server's,
// since it runs in this process. LPUSH grows one list for the whole run, as
// redis-benchmark's does.
func BenchmarkPipeline(b *testing.B) {
	for _, tc := range pipelineCommands {
		b.Run(tc.name, func(b *testing.B) {
			_, addr := startServer(b, Config{})
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			batch := bytes.Repeat([]byte(tc.cmd), 16)
			br := bufio.NewReaderSize(conn, 64<<10)
			// Create the key, so that GET finds it.
			conn.Write([]byte("*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"))
			br.ReadString('\n')
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 16 {
				if _, err := conn.Write(batch); err != nil {
					b.Fatal(err)
				}
				for range 16 {
					line, err := br.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if line[0] == '$' && line[1] != '-' {
						br.ReadSlice('\n')
					}
				}
			}
		})
	}
}

// BenchmarkExec measures the command path alone, without sockets: parsing (resp),
// lookup, locking, the command and its reply, for the commands of
// BenchmarkPipeline. One op is one command; the clock is read and the replies are
// dropped once per 16 commands, as for a pipeline of 16.
func BenchmarkExec(b *testing.B) {
	for _, tc := range pipelineCommands {
		b.Run(tc.name, func(b *testing.B) {
			s, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			c := &client{s: s, authed: true, staleNow: true, stats: newCounters(len(s.cmdList))}
			c.w = resp.NewWriter(io.Discard)
			c.r = resp.NewReader(&loopReader{b: bytes.Repeat([]byte(tc.cmd), 16)}, resp.Limits{})
			c.exec([][]byte{[]byte("SET"), []byte("key:__rand_int__"), []byte("xxx")})
			// The work runs on this goroutine alone: locked to its thread, the
			// thread's CPU time is the command path's, however busy the machine.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := threadCPU()
			for i := range b.N {
				args, err := c.r.ReadCommand()
				if err != nil {
					b.Fatal(err)
				}
				c.exec(args)
				if i%16 == 15 {
					c.w.Reset()
					c.staleNow = true
				}
			}
			b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// loopReader reads b over and over.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.b[r.off:])
		n += k
		r.off = (r.off + k) % len(r.b)
	}
	return n, nil
}
