package broker

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMain lets the test binary run as a broker child process, so that a test can
// kill it with SIGKILL as a crash would.
func TestMain(m *testing.M) {
	if dir := os.Getenv("GANTRY_BROKER_CHILD_DIR"); dir != "" {
		os.Exit(runChild(dir))
	}
	os.Exit(m.Run())
}

func runChild(dir string) int {
	s, err := New(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening", ln.Addr().String())
	if err := s.Serve(context.Background(), ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild runs the broker in a child process on dir and returns it and its address.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GANTRY_BROKER_CHILD_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child broker: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("child broker said %q", line)
	}
	return cmd, addr
}

// TestAcksAllSurvivesSIGKILL produces with acks=all while the broker process is
// killed with SIGKILL, restarts it, and checks that every acknowledged record is there.
// GANTRY_CRASH_RECORDS raises the number of records produced before the kill.
func TestAcksAllSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts broker processes")
	}
	target := 3000
	if n, err := strconv.Atoi(os.Getenv("GANTRY_CRASH_RECORDS")); err == nil && n > 0 {
		target = n
	}
	dir := t.TempDir()
	child, addr := startChild(t, dir)
	// Small segments: the stream rolls several times, so acknowledgements cover records
	// of segments whose roll fsync ran outside the log lock, and the restart recovers
	// the last rolled segment as well as the active one.
	seg := "4096"
	createTopic(t, addr, "durable", 2, map[string]*string{"segment.bytes": &seg})

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(5*time.Second),
		// Batches of at most 1 KiB: however fast the machine, the acknowledged records
		// span many appends, and so many rolls (a roll happens only between appends).
		kgo.ProducerBatchMaxBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			v := strconv.Itoa(i)
			cl.Produce(ctx, &kgo.Record{Topic: "durable", Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Value)] = true
					mu.Unlock()
				}
			})
		}
	}()
	waitFor(t, "acknowledged records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= target
	})
	if err := child.Process.Signal(os.Kill); err != nil { // SIGKILL, by PID
		t.Fatal(err)
	}
	child.Wait()
	cancel()
	wg.Wait()
	cl.Close() // fails what is still buffered; acked holds only real acknowledgements
	// A callback may still run after Close returns (an answer read just before the
	// kill): check the acknowledgements known now, under the lock.
	mu.Lock()
	ackedNow := make([]string, 0, len(acked))
	for v := range acked {
		ackedNow = append(ackedNow, v)
	}
	mu.Unlock()
	n := len(ackedNow)

	_, addr = startChild(t, dir)
	got := consumeAll(t, addr, "durable")
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	missing := 0
	for _, v := range ackedNow {
		if !seen[v] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records lost after SIGKILL", missing, n)
	}
	segs := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".log") && len(d.Name()) == len("00000000000000000000.log") {
			segs++
		}
		return nil
	})
	if segs < 6 {
		t.Fatalf("%d segment files for 2 partitions: the stream rolled too few segments", segs)
	}
	t.Logf("%d acknowledged records, all present after SIGKILL and restart (%d read, %d segments)", n, len(got), segs)
}
