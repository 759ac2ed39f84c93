package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gantry/store"
)

func isolationLevels() Experiment {
	return Experiment{
		Name:    "isolation",
		Summary: "dirty read, non-repeatable read, phantom, lost update, read skew and write skew tried under each isolation level of store",
		Topics:  []string{"acid", "concurrency-control"},
		Run: func(ctx context.Context, p Params) (*Report, error) {
			return runIsolation(ctx, p, isoConfigFor(p.Quick))
		},
	}
}

// isoConfig sizes the contention part of the isolation experiment; the anomaly scenarios
// are fixed interleavings and run once each.
type isoConfig struct {
	workers    int           // goroutines incrementing one counter
	increments int           // transactions per worker
	think      time.Duration // pause between a transaction's read and its write
}

func isoConfigFor(quick bool) isoConfig {
	if quick {
		return isoConfig{workers: 8, increments: 40, think: 100 * time.Microsecond}
	}
	return isoConfig{workers: 8, increments: 400, think: 100 * time.Microsecond}
}

// isoMode is how a transaction runs: an isolation level, and whether its reads for
// update lock the key first (Bucket.Lock: SELECT ... FOR UPDATE).
type isoMode struct {
	name string
	iso  store.Isolation
	lock bool
}

// isoLevels returns the engine's isolation levels, weakest first.
func isoLevels() []isoMode {
	return []isoMode{
		{name: "read committed", iso: store.ReadCommitted},
		{name: "snapshot", iso: store.Snapshot},
		{name: "serializable", iso: store.Serializable},
	}
}

// lockMode reads for update with Bucket.Lock under snapshot isolation.
func lockMode() isoMode { return isoMode{name: "snapshot + Lock", iso: store.Snapshot, lock: true} }

// An outcome is what one anomaly's interleaving did under one mode.
type outcome struct {
	happened bool
	seen     string // what the transactions observed
	refusal  string // the error the engine returned to stop it, if any
	// stale: the anomaly's reads did not show, but what the transactions committed
	// disagrees with the data (the phantom's count under snapshot isolation).
	stale bool
}

// An anomaly is a fixed interleaving of two transactions, T1 begun before T2, that
// shows the anomaly if the mode allows it. It runs in a bucket of its own.
type anomaly struct {
	name     string
	shape    string // the interleaving, for the report
	locking  bool   // has a variant that reads with Lock
	run      func(db *store.DB, bucket []byte, m isoMode) (outcome, error)
	standard [3]allowance // SQL-92's READ COMMITTED, REPEATABLE READ, SERIALIZABLE
	postgres [3]allowance // PostgreSQL's read committed, repeatable read, serializable
}

// allowance is what a reference says a level permits.
type allowance string

const (
	allowed    allowance = "allowed"
	prevented  allowance = "prevented"
	notDefined allowance = "not defined"
)

func anomalies() []anomaly {
	return []anomaly{
		{name: "dirty read", run: dirtyRead,
			shape:    "T1 writes k, not committed; T2 reads k; T1 rolls back",
			standard: [3]allowance{prevented, prevented, prevented}, postgres: [3]allowance{prevented, prevented, prevented}},
		{name: "non-repeatable read", run: nonRepeatableRead,
			shape:    "T1 reads k; T2 writes k and commits; T1 reads k again",
			standard: [3]allowance{allowed, prevented, prevented}, postgres: [3]allowance{allowed, prevented, prevented}},
		{name: "phantom", run: phantom,
			shape:    "T1 counts the rows of a range; T2 inserts a row into it and commits; T1 counts again, writes the count and commits",
			standard: [3]allowance{allowed, allowed, prevented}, postgres: [3]allowance{allowed, prevented, prevented}},
		{name: "lost update", run: lostUpdate, locking: true,
			shape:    "T1 and T2 read counter n = 0; each writes n+1; T1 commits, then T2",
			standard: [3]allowance{notDefined, notDefined, prevented}, postgres: [3]allowance{allowed, prevented, prevented}},
		{name: "read skew", run: readSkew,
			shape:    "T1 reads x (x + y = 100); T2 moves 40 from x to y and commits; T1 reads y",
			standard: [3]allowance{notDefined, notDefined, prevented}, postgres: [3]allowance{allowed, prevented, prevented}},
		{name: "write skew", run: writeSkew, locking: true,
			shape:    "alice and bob are on call; T1 and T2 each read both, see two on call; T1 takes alice off, T2 bob; both commit",
			standard: [3]allowance{notDefined, notDefined, prevented}, postgres: [3]allowance{allowed, allowed, prevented}},
	}
}

// isoResult is what the experiment measured.
type isoResult struct {
	outcomes   map[string]map[string]outcome // anomaly -> mode -> outcome
	contention []contentionResult
}

func runIsolation(ctx context.Context, p Params, cfg isoConfig) (*Report, error) {
	dir, err := os.MkdirTemp("", "gantry-lab-isolation-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// NoSync: durability is not what this measures, and each scenario commits a few times.
	db, err := store.Open(filepath.Join(dir, "iso.db"), &store.Options{NoSync: true, LockTimeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()

	res := isoResult{outcomes: map[string]map[string]outcome{}}
	for i, a := range anomalies() {
		res.outcomes[a.name] = map[string]outcome{}
		modes := isoLevels()
		if a.locking {
			modes = append(modes, lockMode())
		}
		for j, m := range modes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			o, err := a.run(db, fmt.Appendf(nil, "a%d-m%d", i, j), m)
			if err != nil {
				return nil, fmt.Errorf("%s under %s: %w", a.name, m.name, err)
			}
			p.Logger.Info("isolation", "anomaly", a.name, "mode", m.name, "happened", o.happened, "refusal", o.refusal)
			res.outcomes[a.name][m.name] = o
		}
	}
	for i, m := range append(isoLevels(), lockMode()) {
		c, err := contend(ctx, db, fmt.Appendf(nil, "counter-%d", i), m, cfg)
		if err != nil {
			return nil, fmt.Errorf("contention under %s: %w", m.name, err)
		}
		p.Logger.Info("isolation", "contention", m.name, "committed", c.committed, "lost", c.lost(), "refused", c.refused())
		res.contention = append(res.contention, c)
	}
	return isoReport(cfg, res)
}

// A scenario step that fails for a reason other than the ones the experiment looks for
// (an I/O error, a missing bucket) ends the run: the engine did not do what the
// interleaving needs.
type steps struct {
	db     *store.DB
	bucket []byte
	err    error
}

func (s *steps) begin(m isoMode, writable bool) *store.Tx {
	if s.err != nil {
		return nil
	}
	tx, err := s.db.BeginTx(&store.TxOptions{Writable: writable, Isolation: m.iso})
	s.err = err
	return tx
}

func (s *steps) bucketOf(tx *store.Tx) *store.Bucket {
	if s.err != nil || tx == nil {
		return nil
	}
	b, err := tx.Bucket(s.bucket)
	s.err = err
	return b
}

func (s *steps) get(tx *store.Tx, key string) string {
	b := s.bucketOf(tx)
	if b == nil {
		return ""
	}
	v, err := b.Get([]byte(key))
	s.err = err
	return string(v)
}

func (s *steps) put(tx *store.Tx, key, value string) {
	if b := s.bucketOf(tx); b != nil {
		s.err = b.Put([]byte(key), []byte(value))
	}
}

// count returns the number of keys in the bucket that start with prefix, by a cursor.
func (s *steps) count(tx *store.Tx, prefix string) int {
	b := s.bucketOf(tx)
	if b == nil {
		return 0
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
		n++
	}
	s.err = c.Err()
	return n
}

// lockOrGet reads key for update: with Lock in a locking mode, else with Get. A lock the
// engine refuses (wait-die, a timeout) is returned, not kept in s.err: it is the outcome.
func (s *steps) lockOrGet(tx *store.Tx, m isoMode, key string) (string, error) {
	if !m.lock {
		return s.get(tx, key), nil
	}
	b := s.bucketOf(tx)
	if b == nil {
		return "", nil
	}
	v, err := b.Lock([]byte(key))
	if errors.Is(err, store.ErrDeadlock) || errors.Is(err, store.ErrLockTimeout) {
		return "", err
	}
	s.err = err
	return string(v), nil
}

// commit commits tx; a conflict is returned (it is an outcome), anything else kept.
func (s *steps) commit(tx *store.Tx) error {
	if s.err != nil || tx == nil {
		return nil
	}
	err := tx.Commit()
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.err = err
	}
	return err
}

// setup creates the bucket with the given keys in a transaction of its own.
func (s *steps) setup(kv ...string) {
	s.err = s.db.Update(func(tx *store.Tx) error {
		b, err := tx.CreateBucket(s.bucket)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := b.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

// refusal names the engine's errors, "T2's commit: store: transaction conflict".
func refusal(parts ...any) string {
	var out []string
	for i := 0; i+1 < len(parts); i += 2 {
		if err, _ := parts[i+1].(error); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", parts[i], err))
		}
	}
	return strings.Join(out, "; ")
}

func dirtyRead(db *store.DB, bucket []byte, m isoMode) (outcome, error) {
	s := &steps{db: db, bucket: bucket}
	s.setup("k", "committed")
	t1 := s.begin(m, true)
	s.put(t1, "k", "uncommitted")
	t2 := s.begin(m, false)
	v := s.get(t2, "k")
	if t1 != nil {
		t1.Rollback()
	}
	if t2 != nil {
		t2.Rollback()
	}
	return outcome{happened: v == "uncommitted", seen: fmt.Sprintf("T2 read %q", v)}, s.err
}

func nonRepeatableRead(db *store.DB, bucket []byte, m isoMode) (outcome, error) {
	s := &steps{db: db, bucket: bucket}
	s.setup("k", "1")
	t1 := s.begin(m, true)
	v1 := s.get(t1, "k")
	t2 := s.begin(m, true)
	s.put(t2, "k", "2")
	e2 := s.commit(t2)
	v2 := s.get(t1, "k")
	e1 := s.commit(t1)
	return outcome{happened: v1 != v2, seen: fmt.Sprintf("T1 read %q, then %q", v1, v2),
		refusal: refusal("T2's commit", e2, "T1's commit", e1)}, s.err
}

func phantom(db *store.DB, bucket []byte, m isoMode) (outcome, error) {
	s := &steps{db: db, bucket: bucket}
	s.setup("emp/1", "ada", "emp/2", "grace")
	t1 := s.begin(m, true)
	n1 := s.count(t1, "emp/")
	t2 := s.begin(m, true)
	s.put(t2, "emp/3", "edsger")
	e2 := s.commit(t2)
	n2 := s.count(t1, "emp/")
	s.put(t1, "headcount", strconv.Itoa(n2))
	e1 := s.commit(t1)
	// What T1 left behind: a count that disagrees with the rows is the phantom's effect even
	// where T1's own reads did not see it.
	stored, rows := "", 0
	if s.err == nil {
		stored = s.latest("headcount")
		r := s.begin(isoMode{iso: store.Snapshot}, false)
		rows = s.count(r, "emp/")
		if r != nil {
			r.Rollback()
		}
	}
	seen := fmt.Sprintf("T1 counted %d rows, then %d", n1, n2)
	if e1 == nil {
		seen += fmt.Sprintf("; it stored headcount %s with %d rows in the table", stored, rows)
	}
	return outcome{happened: n1 != n2, seen: seen, stale: e1 == nil && stored != strconv.Itoa(rows),
		refusal: refusal("T2's commit", e2, "T1's commit", e1)}, s.err
}

func lostUpdate(db *store.DB, bucket []byte, m isoMode) (outcome, error) {
	s := &steps{db: db, bucket: bucket}
	s.setup("n", "0")
	t1 := s.begin(m, true)
	t2 := s.begin(m, true)
	v1, l1 := s.lockOrGet(t1, m, "n")
	v2, l2 := s.lockOrGet(t2, m, "n")
	if l1 == nil {
		s.put(t1, "n", inc(v1))
	}
	if l2 == nil {
		s.put(t2, "n", inc(v2))
	}
	e1 := s.finish(t1, l1)
	e2 := s.finish(t2, l2)
	final := s.latest("n")
	both := l1 == nil && l2 == nil && e1 == nil && e2 == nil
	read := func(v string, l error) string {
		if l != nil {
			return "was refused the lock"
		}
		return fmt.Sprintf("read %s", v)
	}
	return outcome{happened: both && final == "1", seen: fmt.Sprintf("T1 %s, T2 %s; n = %s after both", read(v1, l1), read(v2, l2), final),
		refusal: refusal("T1's Lock", l1, "T2's Lock", l2, "T1's commit", e1, "T2's commit", e2)}, s.err
}

func readSkew(db *store.DB, bucket []byte, m isoMode) (outcome, error) {
	s := &steps{db: db, bucket: bucket}
	s.setup("x", "50", "y", "50")
	t1 := s.begin(m, true)
	x := s.get(t1, "x")
	t2 := s.begin(m, true)
	s.put(t2, "x", "10")
	s.put(t2, "y", "90")
	e2 := s.commit(t2)
	y := s.get(t1, "y")
	e1 := s.commit(t1)
	xi, _ := strconv.Atoi(x)
	yi, _ := strconv.Atoi(y)
	return outcome{happened: xi+yi != 100, seen: fmt.Sprintf("T1 read x = %s, y = %s: total %d", x, y, xi+yi),
		refusal: refusal("T2's commit", e2, "T1's commit", e1)}, s.err
}

func writeSkew(db *store.DB, bucket []byte, m isoMode) (outcome, error) {
	s := &steps{db: db, bucket: bucket}
	s.setup("alice", "on", "bob", "on")
	t1 := s.begin(m, true)
	t2 := s.begin(m, true)
	onCall := func(tx *store.Tx) (int, error) {
		n := 0
		for _, doc := range []string{"alice", "bob"} {
			v, err := s.lockOrGet(tx, m, doc)
			if err != nil {
				return 0, err
			}
			if v == "on" {
				n++
			}
		}
		return n, nil
	}
	n1, l1 := onCall(t1)
	n2, l2 := onCall(t2)
	if l1 == nil && n1 >= 2 {
		s.put(t1, "alice", "off")
	}
	if l2 == nil && n2 >= 2 {
		s.put(t2, "bob", "off")
	}
	e1 := s.finish(t1, l1)
	e2 := s.finish(t2, l2)
	a, b := s.latest("alice"), s.latest("bob")
	return outcome{happened: a == "off" && b == "off", seen: fmt.Sprintf("each saw %d on call; after both: alice %s, bob %s", n1, a, b),
		refusal: refusal("T1's Lock", l1, "T2's Lock", l2, "T1's commit", e1, "T2's commit", e2)}, s.err
}

// finish commits tx, or rolls it back when taking its lock failed (lockErr), so that a
// transaction refused a lock ends without writing.
func (s *steps) finish(tx *store.Tx, lockErr error) error {
	if lockErr == nil {
		return s.commit(tx)
	}
	if tx != nil {
		tx.Rollback()
	}
	return nil
}

// latest reads key's committed value in a new transaction.
func (s *steps) latest(key string) string {
	if s.err != nil {
		return ""
	}
	var v string
	s.err = s.db.View(func(tx *store.Tx) error {
		b, err := tx.Bucket(s.bucket)
		if err != nil {
			return err
		}
		got, err := b.Get([]byte(key))
		v = string(got)
		return err
	})
	return v
}

// inc adds one to a decimal string.
func inc(v string) string {
	n, _ := strconv.Atoi(v)
	return strconv.Itoa(n + 1)
}

// contentionResult is what workers incrementing one counter did under one mode.
type contentionResult struct {
	mode      string
	attempts  int
	committed int
	conflicts int // ErrConflict at commit
	deadlocks int // ErrDeadlock from Lock (wait-die)
	timeouts  int // ErrLockTimeout
	final     int // the counter's value at the end
	elapsed   time.Duration
}

// lost is the number of committed increments the counter does not show.
func (c contentionResult) lost() int { return c.committed - c.final }

func (c contentionResult) refused() int { return c.conflicts + c.deadlocks + c.timeouts }

// contend runs cfg.workers goroutines, each running cfg.increments read-modify-write
// transactions on one counter under mode m, without retrying: each refusal is counted.
func contend(ctx context.Context, db *store.DB, bucket []byte, m isoMode, cfg isoConfig) (contentionResult, error) {
	c := contentionResult{mode: m.name}
	s := &steps{db: db, bucket: bucket}
	if s.setup("n", "0"); s.err != nil {
		return c, s.err
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.workers {
		wg.Go(func() {
			for range cfg.increments {
				if ctx.Err() != nil {
					return
				}
				err := increment(db, bucket, m, cfg.think)
				mu.Lock()
				c.attempts++
				switch {
				case err == nil:
					c.committed++
				case errors.Is(err, store.ErrConflict):
					c.conflicts++
				case errors.Is(err, store.ErrDeadlock):
					c.deadlocks++
				case errors.Is(err, store.ErrLockTimeout):
					c.timeouts++
				default:
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.elapsed = time.Since(start)
	if firstErr != nil {
		return c, firstErr
	}
	if err := ctx.Err(); err != nil {
		return c, err
	}
	final, err := strconv.Atoi(s.latest("n"))
	if s.err != nil {
		return c, s.err
	}
	if err != nil {
		return c, err
	}
	c.final = final
	return c, nil
}

// increment is one read-modify-write transaction: read n (or lock it), pause, write n+1.
func increment(db *store.DB, bucket []byte, m isoMode, think time.Duration) error {
	tx, err := db.BeginTx(&store.TxOptions{Writable: true, Isolation: m.iso})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	b, err := tx.Bucket(bucket)
	if err != nil {
		return err
	}
	var v []byte
	if m.lock {
		v, err = b.Lock([]byte("n"))
	} else {
		v, err = b.Get([]byte("n"))
	}
	if err != nil {
		return err
	}
	time.Sleep(think) // the application's work between its read and its write
	if err := b.Put([]byte("n"), []byte(inc(string(v)))); err != nil {
		return err
	}
	return tx.Commit()
}
