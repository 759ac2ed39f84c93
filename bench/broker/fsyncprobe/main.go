//go:build linux

// Command fsyncprobe asks whether the long tail of the broker's acks=all syncs belongs to
// the disk or to the way the broker writes. It writes the pattern of bench/broker's e2e
// row (10,000 records/s of 1 KiB over 4 partitions, acks=all: each partition file gets a
// durable unit of about 6.75 KiB some 390 times a second, 1,575 syncs/s in all, as the
// broker's own metrics counted in that row) with several write strategies, taking turns
// in short slices so that every strategy meets the same disk, and prints p50/p99/p99.9/max
// of the time to make one unit durable, per slice and per strategy.
//
// Strategies (every one writes into room of zeros written ahead, 256 KiB at a time, and
// handed to writeback at once, as broker/log's makeRoom does, through a second, plain
// descriptor, so that only the durable step differs):
//
//	now        the unit as 1,152-byte buffered pwrites (one per record batch), then fdatasync
//	rwf-dsync  one pwritev2(RWF_DSYNC) of the unit
//	direct     O_DIRECT|O_DSYNC pwrite of the unit's 4 KiB blocks, the tail block padded
//	           (its earlier bytes kept in memory and written again)
//	sfr        the buffered pwrites, sync_file_range(WAIT_BEFORE|WRITE|WAIT_AFTER), fdatasync
//	odsync     one buffered pwrite of the unit on a descriptor opened O_DSYNC
//	tmpfs      the control: "now" on /dev/shm, where fdatasync returns at once
//
// Each unit's time is also split with the writer thread's /proc/thread-self/schedstat:
// "blocked" is the time neither on a CPU nor waiting for one, i.e. waiting for I/O. On a
// busy 2-core machine, a long unit can be a thread waiting for a CPU, not for the disk.
//
// It also samples /proc/diskstats and every other process's /proc/PID/io every 50 ms, so
// that each slice reports what the rest of the machine wrote meanwhile, the device's mean
// time per write and per flush, and whether the long syncs coincided with other writes.
//
//	go run ./bench/broker/fsyncprobe -dir /var/tmp -rounds 6 -slice 2s
//
// Bounded: slices × rounds of time (72 s by default), -max-bytes of files, all under a
// temporary directory removed at the end.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	block     = 4096
	growChunk = 256 << 10
)

type config struct {
	files    int
	rate     float64 // units per second per file
	unit     int     // bytes per durable unit
	record   int     // bytes per buffered pwrite of "now" and "sfr"
	slice    time.Duration
	rounds   int
	maxBytes int64
	long     time.Duration
	device   string
}

var strategies = []string{"now", "rwf-dsync", "direct", "sfr", "odsync", "tmpfs"}

func main() {
	var c config
	dir := flag.String("dir", "/var/tmp", "where the temporary directory goes (the bench's broker uses /var/tmp)")
	flag.IntVar(&c.files, "files", 4, "files written side by side (the e2e row's partitions)")
	flag.Float64Var(&c.rate, "rate", 394, "durable units per second per file")
	flag.IntVar(&c.unit, "unit", 6912, "bytes per durable unit")
	flag.IntVar(&c.record, "record", 1152, "bytes per buffered pwrite for now and sfr")
	flag.DurationVar(&c.slice, "slice", 2*time.Second, "time each strategy writes per turn")
	flag.IntVar(&c.rounds, "rounds", 6, "turns of every strategy")
	flag.Int64Var(&c.maxBytes, "max-bytes", 2<<30, "stop when the files hold this many bytes")
	flag.DurationVar(&c.long, "long", 20*time.Millisecond, "a unit blocked on I/O at least this long counts as a stall")
	only := flag.String("only", "", "comma-separated strategies (default all)")
	flag.Parse()
	if *only != "" {
		strategies = strings.Split(*only, ",")
	}
	if err := run(*dir, c); err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
}

func run(dir string, c config) error {
	if c.files < 1 || c.rate <= 0 || c.unit < 1 || c.record < 1 || c.rounds < 1 || c.slice <= 0 {
		return errors.New("files, rate, unit, record, rounds and slice must be positive")
	}
	if c.unit > growChunk {
		return fmt.Errorf("unit %d above %d", c.unit, growChunk)
	}
	tmp, err := os.MkdirTemp(dir, "fsyncprobe.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The control: the broker's way on tmpfs, where fdatasync returns at once. What
	// tail it has is the machine's CPU and scheduler, not a disk.
	shm, err := os.MkdirTemp("/dev/shm", "fsyncprobe.")
	if err != nil {
		shm = ""
	} else {
		defer os.RemoveAll(shm)
	}
	c.device, err = deviceOf(tmp)
	if err != nil {
		return err
	}
	samp := newSampler(c.device)
	defer samp.stop()
	fmt.Printf("fsyncprobe: %s on %s, %d files × %.0f units/s of %d B, slices of %v, %d rounds, strategies %s\n",
		tmp, c.device, c.files, c.rate, c.unit, c.slice, c.rounds, strings.Join(strategies, " "))
	all, allIO := map[string][]time.Duration{}, map[string][]time.Duration{}
	for r := 0; r < c.rounds; r++ {
		// Rotate the order so that every strategy follows every other.
		for k := range strategies {
			name := strategies[(r+k)%len(strategies)]
			sd := filepath.Join(tmp, name)
			if name == "tmpfs" {
				if shm == "" {
					continue
				}
				sd = shm
			}
			if err := os.MkdirAll(sd, 0o755); err != nil {
				return err
			}
			if total := dirBytes(tmp) + dirBytes(shm); total > c.maxBytes {
				fmt.Printf("stopped: the files hold %d bytes (-max-bytes %d)\n", total, c.maxBytes)
				return report(all, allIO)
			}
			d0 := samp.now()
			start := time.Now()
			ds, ios, stalls, err := slice(sd, name, c)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			end := time.Now()
			d1 := samp.now()
			all[name] = append(all[name], ds...)
			allIO[name] = append(allIO[name], ios...)
			secs := end.Sub(start).Seconds()
			others, dev := float64(d1.others-d0.others)/secs/1e6, float64(d1.devBytes-d0.devBytes)/secs/1e6
			flushes := d1.flushes - d0.flushes
			wms, fms := perOp(d1.writeMs-d0.writeMs, d1.writes-d0.writes), perOp(d1.flushMs-d0.flushMs, flushes)
			// Did the stalls meet other writes more often than any window of the slice?
			co, sw, sf := 0, 0.0, 0.0
			for _, s := range stalls {
				if samp.othersDuring(s.t0.Add(-200*time.Millisecond), s.t1) >= 1<<20 {
					co++
				}
				w, f := samp.deviceDuring(s.t0, s.t1)
				sw, sf = max(sw, w), max(sf, f)
			}
			base, nw := 0, 0
			for t := start; t.Add(250 * time.Millisecond).Before(end); t = t.Add(50 * time.Millisecond) {
				nw++
				if samp.othersDuring(t, t.Add(250*time.Millisecond)) >= 1<<20 {
					base++
				}
			}
			fmt.Printf("round %d %-9s %s | blocked %s | device wrote %5.1f MB/s, other processes %5.1f MB/s, ≥ 1 MB in %d%% of 250 ms windows | device: %d flushes, mean %.2f ms/flush %.2f ms/write | stalls ≥ %v: %d, %d while another file's unit was stalled too, %d with ≥ 1 MB of others in them or the 200 ms before; worst device means during a stall %.0f ms/write %.0f ms/flush\n",
				r+1, name, quantiles(ds), quantiles(ios), dev, others, 100*base/max(nw, 1), flushes, fms, wms, c.long, len(stalls), shared(stalls), co, sw, sf)
		}
	}
	return report(all, allIO)
}

func report(all, allIO map[string][]time.Duration) error {
	fmt.Println("all rounds (time to make a unit durable; then the part of it spent blocked, neither on a CPU nor waiting for one):")
	for _, name := range strategies {
		fmt.Printf("  %-9s %s | blocked %s\n", name, quantiles(all[name]), quantiles(allIO[name]))
	}
	return nil
}

func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return float64(s[max(0, min(i, len(s)-1))]) / 1e6
	}
	return fmt.Sprintf("p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.1f ms  max %6.1f ms  (%d syncs)", q(0.5), q(0.99), q(0.999), q(1), len(s))
}

// slice runs one strategy for c.slice: c.files writers side by side, each making
// c.rate units a second durable. It returns every unit's time and the stalls.
func slice(dir, name string, c config) ([]time.Duration, []time.Duration, []stall, error) {
	var (
		mu     sync.Mutex
		ds     []time.Duration
		ios    []time.Duration
		stalls []stall
		wg     sync.WaitGroup
		errs   = make([]error, c.files)
	)
	deadline := time.Now().Add(c.slice)
	for i := 0; i < c.files; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One thread per writer, so that its scheduler statistics are the unit's.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ss, err := os.Open("/proc/thread-self/schedstat")
			if err != nil {
				errs[i] = err
				return
			}
			defer ss.Close()
			w, err := openWriter(filepath.Join(dir, strconv.Itoa(i)), name, c)
			if err != nil {
				errs[i] = err
				return
			}
			defer w.close()
			every := time.Duration(float64(time.Second) / c.rate)
			next := time.Now()
			for {
				now := time.Now()
				if now.After(deadline) {
					return
				}
				if next.After(now) {
					time.Sleep(next.Sub(now))
				}
				cpu0, wait0 := schedstat(ss)
				t0 := time.Now()
				if err := w.unit(); err != nil {
					errs[i] = err
					return
				}
				t1 := time.Now()
				cpu1, wait1 := schedstat(ss)
				mu.Lock()
				ds = append(ds, t1.Sub(t0))
				// Off the CPU and not waiting for it: blocked, i.e. waiting for I/O.
				blocked := max(0, t1.Sub(t0)-(cpu1-cpu0)-(wait1-wait0))
				ios = append(ios, blocked)
				// A stall is a unit blocked on I/O that long, not one waiting for a CPU.
				if blocked >= c.long {
					stalls = append(stalls, stall{i, t0, t1})
				}
				mu.Unlock()
				// Missed ticks are dropped: a stalled broker's producer waits too.
				next = next.Add(every)
				if next.Before(t1) {
					next = t1
				}
			}
		}()
	}
	wg.Wait()
	return ds, ios, stalls, errors.Join(errs...)
}

// schedstat reads the calling thread's time on the CPU and time waiting for one.
func schedstat(f *os.File) (cpu, wait time.Duration) {
	var b [128]byte
	n, _ := f.ReadAt(b[:], 0)
	fs := strings.Fields(string(b[:n]))
	if len(fs) < 2 {
		return 0, 0
	}
	c, _ := strconv.ParseInt(fs[0], 10, 64)
	w, _ := strconv.ParseInt(fs[1], 10, 64)
	return time.Duration(c), time.Duration(w)
}

// stall is a unit of file w blocked on I/O for at least -long, from t0 to t1.
type stall struct {
	w      int
	t0, t1 time.Time
}

// shared counts the stalls during which another file also had a stalled unit under
// way: a whole-device (or whole-journal) stall rather than one file's.
func shared(stalls []stall) int {
	n := 0
	for _, a := range stalls {
		mid := a.t0.Add(a.t1.Sub(a.t0) / 2)
		for _, b := range stalls {
			if b.w != a.w && !b.t0.After(mid) && !b.t1.Before(mid) {
				n++
				break
			}
		}
	}
	return n
}

// writer appends durable units to one file, as a partition's log does with one
// strategy. The file is reopened per slice (a strategy's files grow across its turns).
type writer struct {
	name  string
	c     config
	f     *os.File // data descriptor, with the strategy's flags
	plain *os.File // buffered descriptor for the room of zeros
	size  int64    // bytes of data
	alloc int64    // zeros written ahead up to here
	tail  []byte   // direct: the block the data ends in (aligned memory)
	buf   []byte   // direct: aligned staging for one write
	data  []byte
}

func openWriter(path, name string, c config) (*writer, error) {
	flags := os.O_RDWR | os.O_CREATE
	switch name {
	case "direct":
		flags |= syscall.O_DIRECT | syscall.O_DSYNC
	case "odsync":
		flags |= syscall.O_DSYNC
	case "now", "rwf-dsync", "sfr", "tmpfs":
	default:
		return nil, fmt.Errorf("unknown strategy %q", name)
	}
	plain, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		plain.Close()
		return nil, err
	}
	w := &writer{name: name, c: c, f: f, plain: plain, data: make([]byte, c.unit)}
	for i := range w.data {
		w.data[i] = byte(i*7 + 1)
	}
	// Resume after the previous turn: the data is the file's non-zero prefix, which
	// this probe tracks in a side file instead of scanning.
	if b, err := os.ReadFile(path + ".size"); err == nil {
		fmt.Sscan(string(b), &w.size, &w.alloc)
	}
	if name == "direct" {
		w.tail = aligned(block)
		w.buf = aligned(c.unit + 2*block)
		if w.size%block != 0 {
			if _, err := plain.ReadAt(w.tail, w.size/block*block); err != nil {
				w.close()
				return nil, err
			}
		}
	}
	return w, nil
}

func (w *writer) close() {
	os.WriteFile(w.f.Name()+".size", fmt.Appendf(nil, "%d %d", w.size, w.alloc), 0o644)
	w.f.Close()
	w.plain.Close()
}

// aligned returns n bytes of memory aligned to a block, for O_DIRECT.
func aligned(n int) []byte {
	b := make([]byte, n+block)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (block - 1))
	if off != 0 {
		off = block - off
	}
	return b[off : off+n]
}

// room writes zeros ahead of the data, as broker/log's makeRoom does.
func (w *writer) room() error {
	if w.size+int64(w.c.unit) <= w.alloc {
		return nil
	}
	from := max(w.alloc, w.size)
	to := (w.size + int64(w.c.unit) + growChunk + block - 1) / block * block
	zeros := make([]byte, 64<<10)
	for off := from; off < to; {
		k := min(int64(len(zeros)), to-off)
		if _, err := w.plain.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off += k
	}
	unix.SyncFileRange(int(w.plain.Fd()), from, to-from, unix.SYNC_FILE_RANGE_WRITE)
	w.alloc = to
	return nil
}

// unit makes the next c.unit bytes durable with the writer's strategy.
func (w *writer) unit() error {
	if err := w.room(); err != nil {
		return err
	}
	n := int64(w.c.unit)
	fd := int(w.f.Fd())
	switch w.name {
	case "now", "sfr", "tmpfs":
		for off := int64(0); off < n; off += int64(w.c.record) {
			k := min(int64(w.c.record), n-off)
			if _, err := w.f.WriteAt(w.data[off:off+k], w.size+off); err != nil {
				return err
			}
		}
		if w.name == "sfr" {
			if err := unix.SyncFileRange(fd, w.size, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
				return err
			}
		}
		if err := unix.Fdatasync(fd); err != nil {
			return err
		}
	case "rwf-dsync":
		if _, err := unix.Pwritev2(fd, [][]byte{w.data}, w.size, unix.RWF_DSYNC); err != nil {
			return err
		}
	case "odsync":
		if _, err := w.f.WriteAt(w.data, w.size); err != nil {
			return err
		}
	case "direct":
		start := w.size / block * block
		head := int(w.size - start) // bytes of the tail block already written
		end := (w.size + n + block - 1) / block * block
		b := w.buf[:end-start]
		copy(b, w.tail[:head])
		copy(b[head:], w.data)
		clear(b[head+int(n):])
		if _, err := w.f.WriteAt(b, start); err != nil {
			return err
		}
		copy(w.tail, b[len(b)-block:])
	}
	w.size += n
	return nil
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// deviceOf names the block device of dir's filesystem as /proc/diskstats does.
func deviceOf(dir string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "", err
	}
	maj, mnr := unix.Major(st.Dev), unix.Minor(st.Dev)
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", maj, mnr))
	if err != nil {
		return "", fmt.Errorf("device of %s: %w", dir, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "DEVNAME="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("device of %s: no DEVNAME", dir)
}

type sample struct {
	t        time.Time
	devBytes int64 // bytes the device completed writing (sectors × 512)
	others   int64 // othersWritten
	flushes  int64
	flushMs  int64
	writes   int64 // write requests completed
	writeMs  int64 // their time in the device queue, ms
}

// sampler reads /proc/diskstats every 50 ms.
type sampler struct {
	dev         string
	last        map[string]int64 // write_bytes of each other process at the last sample
	othersTotal int64
	mu          sync.Mutex
	log         []sample
	done        chan struct{}
	wg          sync.WaitGroup
}

func newSampler(dev string) *sampler {
	s := &sampler{dev: dev, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.now()
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() { close(s.done); s.wg.Wait() }

// now takes a sample and keeps it.
func (s *sampler) now() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := sample{t: time.Now(), others: s.othersWritten()}
	if f, err := os.Open("/proc/diskstats"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[2] != s.dev {
				continue
			}
			v := func(i int) int64 {
				if i >= len(fs) {
					return 0
				}
				n, _ := strconv.ParseInt(fs[i], 10, 64)
				return n
			}
			// Fields after the name: 7 sectors written; 16, 17 flushes and their ms.
			x.devBytes, x.flushes, x.flushMs = v(9)*512, v(18), v(19)
			x.writes, x.writeMs = v(7), v(10)
		}
		f.Close()
	}
	s.log = append(s.log, x)
	return x
}

// othersWritten adds up what the machine's other processes have written since the
// sampler first saw them (/proc/PID/io write_bytes: counted when a page is dirtied,
// and for direct writes; a process that comes and goes between two samples is missed).
func (s *sampler) othersWritten() int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return s.othersTotal
	}
	self := strconv.Itoa(os.Getpid())
	seen := make(map[string]int64, len(s.last))
	for _, e := range ents {
		pid := e.Name()
		if pid == self || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/io")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				if old, ok := s.last[pid]; ok && n >= old {
					s.othersTotal += n - old
				}
				seen[pid] = n
			}
		}
	}
	s.last = seen
	return s.othersTotal
}

// window returns the samples just outside [a, b].
func (s *sampler) window(a, b time.Time) (lo, hi sample, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l, h *sample
	for i := range s.log {
		x := &s.log[i]
		if !x.t.After(a) {
			l = x
		}
		if h == nil && !x.t.Before(b) {
			h = x
		}
	}
	if l == nil || h == nil {
		return sample{}, sample{}, false
	}
	return *l, *h, true
}

// othersDuring is what the device wrote between a and b beyond the probe's own bytes,
// from the samples just outside that window.
func (s *sampler) othersDuring(a, b time.Time) int64 {
	lo, hi, ok := s.window(a, b)
	if !ok {
		return 0
	}
	return hi.others - lo.others
}

// deviceDuring is the device's mean time per write request and per flush between a and b.
func (s *sampler) deviceDuring(a, b time.Time) (writeMs, flushMs float64) {
	lo, hi, ok := s.window(a, b)
	if !ok {
		return 0, 0
	}
	return perOp(hi.writeMs-lo.writeMs, hi.writes-lo.writes), perOp(hi.flushMs-lo.flushMs, hi.flushes-lo.flushes)
}

func perOp(ms, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(ms) / float64(n)
}
