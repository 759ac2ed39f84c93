package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"gantry/internal/testenv"
)

func TestCacheCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("# comment\nmaxmemory 10mb\nmaxmemroy 1\n"), 0o644)
	badPolicy := filepath.Join(dir, "policy.conf")
	os.WriteFile(badPolicy, []byte("maxmemory-policy lru\n"), 0o644)
	badLimit := filepath.Join(dir, "limit.conf")
	os.WriteFile(badLimit, []byte("client-output-buffer-limit normal 0 0 0\nclient-output-buffer-limit pubsub 32mb 8mb\n"), 0o644)
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"cache", "-h"}, 0, ""},
		{[]string{"cache", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"cache", "--maxmemory", "lots"}, 2, `"lots" is not a size`},
		{[]string{"cache", "--maxmemory", "9223372036854775807gb"}, 2, "is not a size"},
		{[]string{"cache", "--maxmemory-policy", "lru"}, 2, `maxmemory-policy "lru" is not one of`},
		{[]string{"cache", "--appendonly", "maybe"}, 2, "--appendonly must be yes or no"},
		{[]string{"cache", "--appendfsync", "sometimes"}, 2, "--appendfsync must be"},
		{[]string{"cache", "--config", bad}, 1, `bad.conf:3: unknown directive "maxmemroy"`},
		{[]string{"cache", "--config", badPolicy}, 2, `maxmemory-policy "lru" is not one of`},
		{[]string{"cache", "--config", filepath.Join(dir, "missing.conf")}, 1, "no such file"},
		{[]string{"cache", "--config", badLimit}, 1, `limit.conf:2: client-output-buffer-limit "pubsub 32mb 8mb": Wrong number of arguments in buffer limit configuration.`},
		{[]string{"cache", "--client-output-buffer-limit", "normal 1 2 3 other 1 2 3"}, 2, `--client-output-buffer-limit "normal 1 2 3 other 1 2 3": Invalid client class specified in buffer limit configuration.`},
		{[]string{"cache", "--client-output-buffer-limit", "normal 1 -2 3"}, 2, `--client-output-buffer-limit "normal 1 -2 3": Error in hard, soft or soft_seconds setting in buffer limit configuration.`},
		{[]string{"cache", "--client-output-buffer-limit", "pubsub 0 0 0"}, 2, "--client-output-buffer-limit: pubsub 0 0 0 (no limit) can only be set with CONFIG SET"},
	} {
		code, _, stderr := gantry(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
	}
}

// gantry cache runs with a config file, answers RESP, serves metrics on its admin
// listener, and stops cleanly on cancel.
func TestCacheServes(t *testing.T) {
	baseLimit := debug.SetMemoryLimit(-1)
	addr, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	conf := filepath.Join(t.TempDir(), "cache.conf")
	dataDir := t.TempDir()
	os.WriteFile(conf, []byte("requirepass secret\nmaxmemory 1mb\nappendonly yes\nappendfsync always\ndir "+dataDir+"\n"+
		"client-output-buffer-limit normal 1mb 512kb 10\nclient-output-buffer-limit pubsub 16mb 4mb 20\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errw testenv.Buffer
	go func() {
		done <- run(ctx, stdio{strings.NewReader(""), io.Discard, &errw},
			[]string{"cache", "--addr", addr, "--admin", adminAddr, "--config", conf, "--maxmemory", "2mb",
				"--client-output-buffer-limit", "pubsub 64mb 16mb 30"})
	}()
	var conn net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(cmd string) string {
		conn.Write([]byte(cmd + "\r\n"))
		line, _ := br.ReadString('\n')
		if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
			body, _ := br.ReadString('\n')
			line += body
		}
		return line
	}
	if got := send("SET k v"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("SET before AUTH = %q", got)
	}
	if got := send("AUTH secret"); got != "+OK\r\n" {
		t.Fatalf("AUTH = %q", got)
	}
	if got := send("SET k v"); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	// The flag overrides the file's maxmemory.
	conn.Write([]byte("CONFIG GET maxmemory\r\n"))
	var lines []string
	for range 5 {
		l, _ := br.ReadString('\n')
		lines = append(lines, strings.TrimSpace(l))
	}
	if got := strings.Join(lines, " "); got != "*2 $9 maxmemory $7 2097152" {
		t.Fatalf("CONFIG GET maxmemory = %q", got)
	}
	// The file's lines add up class by class, and the flag's pubsub class
	// replaces the file's.
	conn.Write([]byte("CONFIG GET client-output-buffer-limit\r\n"))
	lines = lines[:0]
	for range 5 {
		l, _ := br.ReadString('\n')
		lines = append(lines, strings.TrimSpace(l))
	}
	if got, want := lines[4], "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 67108864 16777216 30"; got != want {
		t.Fatalf("CONFIG GET client-output-buffer-limit = %q, want %q", got, want)
	}
	if got := send("DBSIZE"); got != ":1\r\n" {
		t.Fatalf("DBSIZE = %q", got)
	}
	// gantry cache gives the runtime a memory limit of maxmemory*1.25 + 32 MB,
	// and gives back the process's own limit when it stops.
	if got, want := debug.SetMemoryLimit(-1), int64(2<<20+2<<20/4+32<<20); got != want {
		t.Errorf("runtime memory limit with --maxmemory 2mb = %d, want %d", got, want)
	}
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`gantry_cache_commands_total{command="set"} 1`, "gantry_cache_connected_clients 1", "gantry_cache_keys 1", "gantry_cache_command_duration_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errw.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gantry cache did not stop")
	}
	if got := debug.SetMemoryLimit(-1); got != baseLimit {
		t.Errorf("runtime memory limit after gantry cache stopped = %d, want the process's %d", got, baseLimit)
	}
	if data, _ := os.ReadFile(filepath.Join(dataDir, "appendonly.aof")); !strings.Contains(string(data), "$3\r\nSET\r\n$1\r\nk\r\n") {
		t.Fatalf("appendonly.aof in --dir from the config file lacks the SET: %q", data)
	}
}
