// Package workload is the storage benchmark's workloads, written once against a small
// Engine interface so that the same code drives gantry's store (here), and bbolt and
// SQLite (in bench/store). `gantry db bench` runs them on the store alone.
package workload

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Engine is one storage engine under test. Every Update is one durable transaction
// (fsync before it returns). Update and Get may be called from many goroutines.
type Engine interface {
	Name() string
	Update(kvs []KV) error
	Get(key []byte) ([]byte, error)
	// Scan reads up to n entries from the first key >= start and returns how many.
	Scan(start []byte, n int) (int, error)
	Close() error
}

// Loader is an engine with a way to load sorted input faster than transactions of puts:
// the load-sorted row. Load writes n entries, kv(0) to kv(n-1) in increasing key order,
// into an empty keyspace, durably, as one unit.
type Loader interface {
	Load(n int, kv func(i int) KV) error
}

// KV is one write.
type KV struct{ K, V []byte }

// Config sizes a run.
type Config struct {
	Keys     int           // keys loaded by the bulk workloads (1M in the issue)
	Duration time.Duration // how long each timed workload runs
	Writers  int           // concurrent committers
	// LoadLimit bounds each bulk load; a load cut short reports the keys it wrote, and
	// the reads then use only those. 0 means no limit.
	LoadLimit time.Duration
	// WritesOnly stops after the write workloads (inserts and loads, each on a fresh
	// database): the rows a change to the commit path moves, in a fraction of the time.
	WritesOnly bool
}

// Result is one workload's outcome on one engine.
type Result struct {
	Workload string
	Engine   string
	Ops      int
	Elapsed  time.Duration
}

// Rate returns operations per second.
func (r Result) Rate() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// Key returns the 16-byte key number i: sequential when seq, else spread at random.
func Key(i uint64, seq bool) []byte {
	k := make([]byte, 16)
	if !seq {
		i = mix(i)
	}
	binary.BigEndian.PutUint64(k[8:], i)
	binary.BigEndian.PutUint64(k, mix(i)&0xff) // a short random head for random keys
	if seq {
		binary.BigEndian.PutUint64(k, 0)
	}
	return k
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Value is a 100-byte value.
func Value(i uint64) []byte {
	v := make([]byte, 100)
	binary.BigEndian.PutUint64(v, i)
	return v
}

// Workloads lists the workloads in the order Run runs them. Names are stable: they are
// the rows of the ratio lines.
var Workloads = []string{
	"insert-seq-1", "insert-rand-1", "insert-seq-1000", "insert-rand-1000", "load-sorted",
	"get", "scan-100", "commit-concurrent", "scan-while-writing",
}

// Run runs every workload on engine e, opened empty by open for each load, and writes a
// line per result to log. open gets a name to tell the databases apart.
func Run(cfg Config, open func(name string) (Engine, error), log io.Writer) ([]Result, error) {
	return Compare(cfg, []func(string) (Engine, error){open}, 1, log)
}

// Compare runs every workload on each engine. The loads run engine after engine. The
// timed workloads on the loaded databases (reads, scans, concurrent commits) run in
// rounds, each engine in turn for cfg.Duration/rounds per workload, and their counts add
// up: on a machine whose load comes and goes (a shared one), every engine then meets about
// the same share of good and bad moments, where one engine after the other can make a
// ratio of 0.5 or 2 out of nothing.
func Compare(cfg Config, opens []func(name string) (Engine, error), rounds int, log io.Writer) ([]Result, error) {
	var out []Result
	add := func(r Result) {
		out = append(out, r)
		fmt.Fprintf(log, "%-20s %-8s %12.0f ops/s  (%d ops in %v)\n", r.Workload, r.Engine, r.Rate(), r.Ops, r.Elapsed.Round(time.Millisecond))
	}
	var loaded []*state
	defer func() {
		for _, st := range loaded {
			st.e.Close()
		}
	}()
	for _, open := range opens {
		st, err := writes(cfg, open, add)
		if err != nil {
			return out, err
		}
		loaded = append(loaded, st)
	}
	if cfg.WritesOnly {
		return out, nil
	}
	rounds = max(1, rounds)
	slice := cfg.Duration / time.Duration(rounds)
	sums := map[[2]string]*Result{}
	var order [][2]string
	for round := range rounds {
		for i := range loaded {
			st := loaded[(i+round)%len(loaded)] // who goes first changes each round
			rs, err := st.timedRows(cfg, slice)
			if err != nil {
				return out, err
			}
			for _, r := range rs {
				k := [2]string{r.Workload, r.Engine}
				if sums[k] == nil {
					sums[k] = &Result{Workload: r.Workload, Engine: r.Engine}
					order = append(order, k)
				}
				sums[k].Ops += r.Ops
				sums[k].Elapsed += r.Elapsed
			}
		}
	}
	for _, name := range Workloads {
		for _, k := range order {
			if k[0] == name {
				add(*sums[k])
			}
		}
	}
	return out, nil
}

// state is one engine's database after the loads, for the timed workloads.
type state struct {
	e    Engine
	keys int           // keys loaded in order: the reads pick among them
	next atomic.Uint64 // next key number the committers write
	rng  *rand.Rand
	rngs []*rand.Rand
}

// writes runs the insert and load workloads on fresh databases and returns the
// sequentially loaded one, open.
func writes(cfg Config, open func(name string) (Engine, error), add func(Result)) (*state, error) {
	// Single-write transactions: fsync-bound, timed.
	for _, seq := range []bool{true, false} {
		e, err := open(fmt.Sprintf("single-%v", seq))
		if err != nil {
			return nil, err
		}
		r, err := timed(cfg.Duration, 1, func(_ int, i uint64) error {
			return e.Update([]KV{{Key(i, seq), Value(i)}})
		})
		e.Close()
		if err != nil {
			return nil, err
		}
		r.Workload, r.Engine = pick(seq, "insert-seq-1", "insert-rand-1"), e.Name()
		add(r)
	}
	// Bulk loads of cfg.Keys in transactions of 1000; the sequential one stays for reads.
	var loaded Engine
	keys := cfg.Keys
	for _, seq := range []bool{false, true} {
		e, err := open(fmt.Sprintf("bulk-%v", seq))
		if err != nil {
			return nil, err
		}
		start := time.Now()
		done := 0
		for done < cfg.Keys && (cfg.LoadLimit == 0 || time.Since(start) < cfg.LoadLimit) {
			batch := make([]KV, 0, 1000)
			for j := done; j < min(done+1000, cfg.Keys); j++ {
				batch = append(batch, KV{Key(uint64(j), seq), Value(uint64(j))})
			}
			if err := e.Update(batch); err != nil {
				e.Close()
				return nil, err
			}
			done += len(batch)
		}
		add(Result{pick(seq, "insert-seq-1000", "insert-rand-1000"), e.Name(), done, time.Since(start)})
		if seq {
			loaded = e
			keys = done
		} else {
			e.Close()
		}
	}
	// Sorted input through the engine's bulk path, when it has one.
	e, err := open("load")
	if err != nil {
		loaded.Close()
		return nil, err
	}
	if ld, ok := e.(Loader); ok {
		start := time.Now()
		err := ld.Load(cfg.Keys, func(i int) KV { return KV{Key(uint64(i), true), Value(uint64(i))} })
		r := Result{"load-sorted", e.Name(), cfg.Keys, time.Since(start)}
		if err != nil {
			e.Close()
			loaded.Close()
			return nil, err
		}
		add(r)
	}
	e.Close()
	st := &state{e: loaded, keys: keys, rng: rand.New(rand.NewPCG(1, 2)),
		rngs: []*rand.Rand{rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(5, 6))}}
	st.next.Store(uint64(keys))
	return st, nil
}

// timedRows runs the timed workloads on the loaded database for d each.
func (st *state) timedRows(cfg Config, d time.Duration) ([]Result, error) {
	loaded := st.e
	var out []Result
	r, err := timed(d, 1, func(_ int, _ uint64) error {
		i := st.rng.Uint64N(uint64(st.keys))
		v, err := loaded.Get(Key(i, true))
		if err == nil && len(v) != 100 {
			err = fmt.Errorf("%s: get of key %d returned %d bytes", loaded.Name(), i, len(v))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Workload, r.Engine = "get", loaded.Name()
	out = append(out, r)
	r, err = timed(d, 1, func(_ int, _ uint64) error {
		i := st.rng.Uint64N(uint64(max(1, st.keys-100)))
		n, err := loaded.Scan(Key(i, true), 100)
		if err == nil && n != 100 {
			err = fmt.Errorf("%s: scan from key %d returned %d entries", loaded.Name(), i, n)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Workload, r.Engine = "scan-100", loaded.Name()
	out = append(out, r)
	// Concurrent committers of one small durable transaction each.
	r, err = timed(d, cfg.Writers, func(_ int, _ uint64) error {
		i := st.next.Add(1)
		return loaded.Update([]KV{{Key(i, false), Value(i)}})
	})
	if err != nil {
		return nil, err
	}
	r.Workload, r.Engine = "commit-concurrent", loaded.Name()
	out = append(out, r)
	// Two readers scanning while one writer commits: the readers' scans/s are the row.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := st.next.Add(1)
			if err := loaded.Update([]KV{{Key(i, false), Value(i)}}); err != nil {
				werr = err
				return
			}
		}
	})
	r, err = timed(d, 2, func(w int, _ uint64) error {
		i := st.rngs[w].Uint64N(uint64(max(1, st.keys-100)))
		n, err := loaded.Scan(Key(i, true), 100)
		if err == nil && n != 100 {
			err = fmt.Errorf("%s: scan from key %d returned %d entries", loaded.Name(), i, n)
		}
		return err
	})
	close(stop)
	wg.Wait()
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	r.Workload, r.Engine = "scan-while-writing", loaded.Name()
	return append(out, r), nil
}

func pick(seq bool, a, b string) string {
	if seq {
		return a
	}
	return b
}

// timed runs fn from workers goroutines for d and counts calls.
func timed(d time.Duration, workers int, fn func(worker int, i uint64) error) (Result, error) {
	var ops atomic.Uint64
	var first atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := uint64(w); time.Now().Before(deadline); i += uint64(workers) {
				if err := fn(w, i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return Result{}, err
	}
	return Result{Ops: int(ops.Load()), Elapsed: time.Since(start)}, nil
}

// Ratios returns, for each workload, gantry's rate over the anchor's.
func Ratios(results []Result, gantry, anchor string) map[string]float64 {
	rate := map[[2]string]float64{}
	for _, r := range results {
		rate[[2]string{r.Workload, r.Engine}] = r.Rate()
	}
	out := map[string]float64{}
	for _, w := range Workloads {
		g, a := rate[[2]string{w, gantry}], rate[[2]string{w, anchor}]
		if g > 0 && a > 0 {
			out[w] = g / a
		}
	}
	return out
}

// SortedNames returns m's keys in Workloads order.
func SortedNames(m map[string]float64) []string {
	var names []string
	for _, w := range Workloads {
		if _, ok := m[w]; ok {
			names = append(names, w)
		}
	}
	return names
}
