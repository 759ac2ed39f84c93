package cache

import (
	"bufio"
	"bytes"
	"net"
	"testing"
)

// BenchmarkPipeline measures the server's hot path over loopback: one op is one
// command of a 16-command pipeline (what redis-benchmark -P 16 sends). Allocations
// include the server's, since it runs in this process.
func BenchmarkPipeline(b *testing.B) {
	for _, tc := range []struct{ name, cmd string }{
		{"SET", "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"},
		{"GET", "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n"},
		{"INCR", "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"},
		{"HSET", "*4\r\n$4\r\nHSET\r\n$6\r\nmyhash\r\n$20\r\nelement:__rand_int__\r\n$3\r\nxxx\r\n"},
	} {
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
					if line[0] == '$' {
						br.ReadSlice('\n')
					}
				}
			}
		})
	}
}
