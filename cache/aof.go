package cache

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gantry/resp"
)

// The append-only file. Every write command that changed the dataset is appended,
// as a RESP array, in the order the commands ran on each key: the append happens
// while the command still holds its shards' locks. Commands whose effect depends
// on the clock or on chance are logged as their deterministic equivalents (SET EX
// becomes SET and PEXPIREAT with an absolute time, SPOP becomes SREM of what was
// popped, INCRBYFLOAT becomes SET of the result), as Redis does. A transaction is
// logged between MULTI and EXEC, so a torn one is dropped whole on load.
//
// A client's replies are written only after what its commands logged has reached
// the file: with appendfsync always, after an fsync (several clients share one
// fsync, group commit), so no acknowledged write is lost when the process is
// killed; with everysec, the write reaches the kernel before the reply and an fsync
// follows within a second; with no, the kernel decides.
//
// On start the file is replayed. A command cut off at the end (a crash during a
// write) is a torn tail: the file is truncated to the last whole command (or to
// before an unfinished MULTI) and a warning is logged.
//
// When the file has doubled since it was last written whole (and is past
// Config.AOFRewriteMinSize), or on BGREWRITEAOF, it is rewritten in the
// background, without pausing clients (aofrewrite.go). The rewrite takes the
// dataset as of one instant: it locks every shard just long enough to mark them
// all "not yet copied" and to start a rewrite buffer, which from then on receives
// a copy of every record appended. A shard is then written out (serialised under
// its lock, one shard at a time) either by the rewrite goroutine or, if a write
// command gets there first, by that command before it changes the shard: copy on
// first write, per shard. So every shard is written as it was at the instant, and
// the rewrite buffer holds exactly what happened after it. The new file is the
// shards, then the buffer (drained while it grows), fsynced; its last part is
// written, fsynced and renamed over the old file (and the directory fsynced)
// holding only syncMu, so appends go on meanwhile and only replies that wait for
// an fsync wait for it. Until the rename the old file receives every record as
// usual: a crash during a rewrite loses nothing.

// aofName is the file's name in Config.Dir.
const aofName = "appendonly.aof"

type aof struct {
	mode atomic.Value // string: always, everysec, no (CONFIG SET appendfsync changes it)
	log  *slog.Logger

	mu     sync.Mutex // guards buf, db, end, fileStart, base, err, closed and rwBuf
	f      *os.File
	buf    []byte // appended, not yet written
	db     int    // the database the file's SELECTs last chose
	end    int64  // logical offset after buf: it only grows, across rewrites too
	err    error  // a failed write or fsync: every later sync fails
	closed bool
	// fileStart is the logical offset at which the current file begins: its
	// size is end - fileStart.
	fileStart int64
	// rwBuf receives a copy of every record appended while a rewrite runs
	// (snap is set); nil otherwise.
	rwBuf []byte
	snap  atomic.Pointer[snapshot] // the rewrite in progress, read by write commands

	syncMu sync.Mutex // serialises writers; guards f and written
	// fileMu is held by an fsync made outside syncMu (everysec), so that a
	// rewrite does not close the file it fsyncs.
	fileMu sync.Mutex
	// written is the offset up to which the file holds the log (synced, in
	// always mode).
	written int64

	stop chan struct{}
	done chan struct{}

	path       string
	base       int64                            // size after the last load or rewrite
	minRewrite int64                            // no automatic rewrite below this size
	rewriteReq chan struct{}                    // BGREWRITEAOF
	rewrite    func(stop <-chan struct{}) error // set by the server: writes the keyspace anew
	rewrites   atomic.Int64                     // rewrites done
	rewriting  atomic.Bool                      // a rewrite goroutine runs
	lastFinish atomic.Int64                     // how long the last rewrite's final step held syncMu (ns)
	rewriteWG  sync.WaitGroup                   // the rewrite goroutine
	enabling   atomic.Bool                      // turned on live, the first rewrite not done yet
	saved      func()                           // set by the server: a rewrite counts as a save (LASTSAVE)
}

func openAOF(dir, mode string, log *slog.Logger, load func(args [][]byte)) (*aof, error) {
	path := filepath.Join(dir, aofName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache: appendonly: %w", err)
	}
	good, cmds, err := replay(f, load)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: appendonly %s: %w", path, err)
	}
	size, _ := f.Seek(0, io.SeekEnd)
	if good < size {
		log.Warn("appendonly file has a torn tail: truncating", "file", path, "size", size, "truncated_to", good, "dropped_bytes", size-good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("cache: appendonly truncate: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	log.Info("appendonly file loaded", "file", path, "commands", cmds, "bytes", good)
	return newAOF(f, path, good, mode, log), nil
}

// newAOF returns the log appending to f, which holds size bytes of it.
func newAOF(f *os.File, path string, size int64, mode string, log *slog.Logger) *aof {
	a := &aof{log: log, f: f, db: -1, end: size, written: size, stop: make(chan struct{}), done: make(chan struct{}),
		path: path, base: size, rewriteReq: make(chan struct{}, 1)}
	a.mode.Store(mode)
	return a
}

// runAOF wires a to the server and starts its goroutine.
func (s *Server) runAOF(a *aof, minRewrite int64) {
	a.minRewrite = minRewrite
	a.rewrite = func(stop <-chan struct{}) error { return s.rewriteAOF(a, stop) }
	a.saved = func() { s.lastSave.Store(time.Now().Unix()) }
	go a.everySecond()
}

// setAppendOnly turns the append-only file on or off while the server runs
// (CONFIG SET appendonly), as Redis does. On: the file is written anew from the
// dataset by a rewrite started at once (aofrewrite.go); until the rewrite puts it
// in place, the log's records go to an unlinked temporary file and to the
// rewrite's buffer, so the file in Dir is whole or absent (an old one stays
// until the rename), and appendfsync always holds only from then on. If the
// rewrite fails it is tried again every second. Off: what is buffered is written
// and fsynced and the file closed; it stays in Dir, as Redis leaves it. The
// switch itself happens with every shard locked, so every command runs either
// wholly with the log or wholly without it; clients already in an event loop
// leave it on their first logged write (loop.serve).
func (s *Server) setAppendOnly(on bool, dir, mode string) error {
	s.aofSwitch.Lock()
	defer s.aofSwitch.Unlock()
	if (s.aof.Load() != nil) == on {
		return nil
	}
	var a *aof
	if on {
		f, err := os.CreateTemp(dir, aofName+".enabling-*")
		if err != nil {
			return err
		}
		os.Remove(f.Name()) // written only until the rewrite's rename
		a = newAOF(f, filepath.Join(dir, aofName), 0, mode, s.log)
		a.enabling.Store(true)
	}
	for i := range s.ks.shards {
		s.ks.shards[i].mu.Lock()
	}
	old := s.aof.Swap(a)
	for i := len(s.ks.shards) - 1; i >= 0; i-- {
		s.ks.shards[i].mu.Unlock()
	}
	if a != nil {
		s.runAOF(a, s.config().AOFRewriteMinSize)
		a.startRewrite()
		s.log.Info("appendonly on: rewriting the file from the dataset", "file", a.path)
		return nil
	}
	err := old.close()
	s.log.Info("appendonly off", "file", old.path, "err", err)
	return err
}

// fsyncMode is the appendfsync mode.
func (a *aof) fsyncMode() string { return a.mode.Load().(string) }

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// replay runs every whole command of the file through load and returns the
// offset after the last one that is part of a complete unit (a command outside
// MULTI, or a MULTI...EXEC).
func replay(f *os.File, load func(args [][]byte)) (good int64, cmds int, err error) {
	cr := &countingReader{r: f}
	r := resp.NewReader(cr, resp.Limits{})
	var pending [][][]byte // a transaction being read
	inMulti := false
	for {
		args, err := r.ReadCommand()
		if err != nil {
			var pe *resp.ProtocolError
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &pe) {
				return good, cmds, nil // the rest is a torn tail (or nothing)
			}
			return good, cmds, err
		}
		off := cr.n - int64(r.Buffered())
		name := lowerString(args[0])
		switch {
		case name == "multi":
			inMulti, pending = true, pending[:0]
		case name == "exec" && inMulti:
			for _, p := range pending {
				load(p)
				cmds++
			}
			inMulti = false
			good = off
		case inMulti:
			pending = append(pending, copyArgs(args))
		default:
			load(args)
			cmds++
			good = off
		}
	}
}

// appendCmds adds commands run in database db; the caller holds the keys' shard locks.
func (a *aof) appendCmds(db int, cmds [][][]byte) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appendLocked(db, cmds)
}

func (a *aof) appendLocked(db int, cmds [][][]byte) int64 {
	start := len(a.buf)
	if db != a.db {
		a.buf = appendCommand(a.buf, []byte("SELECT"), []byte(strconv.Itoa(db)))
		a.db = db
	}
	for _, c := range cmds {
		a.buf = appendCommand(a.buf, c...)
	}
	if a.rwBuf != nil {
		a.rwBuf = append(a.rwBuf, a.buf[start:]...)
	}
	a.end += int64(len(a.buf) - start)
	return a.end
}

// appendTx adds a transaction's records, which start in database db and end in endDB.
func (a *aof) appendTx(db, endDB int, recs [][][]byte) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	end := a.appendLocked(db, recs)
	a.db = endDB
	return end
}

func appendCommand(b []byte, args ...[]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// sync makes the log up to offset upTo durable as the mode requires: written to
// the file, and fsynced in always mode. Whoever gets syncMu writes everything
// buffered, so concurrent callers share one write and one fsync.
func (a *aof) sync(upTo int64) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	if a.written >= upTo {
		a.mu.Lock()
		err := a.err
		a.mu.Unlock()
		return err
	}
	return a.writeLocked(a.fsyncMode() == "always")
}

// writeLocked writes the buffer and optionally fsyncs; syncMu is held.
func (a *aof) writeLocked(fsync bool) error {
	a.mu.Lock()
	data, end, err := a.buf, a.end, a.err
	a.buf = nil
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err = a.f.Write(data); err == nil && fsync {
			err = a.f.Sync()
		}
	} else if fsync {
		err = a.f.Sync()
	}
	if err != nil {
		a.mu.Lock()
		a.err = fmt.Errorf("cache: appendonly write: %w", err)
		err = a.err
		a.mu.Unlock()
		a.log.Error("appendonly write failed: writes are refused", "err", err)
		return err
	}
	a.written = end
	return nil
}

// everySecond writes and fsyncs once a second in everysec mode (and writes what
// is buffered in the other modes, so nothing waits for long), and starts
// rewrites.
func (a *aof) everySecond() {
	defer close(a.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			a.rewriteWG.Wait()
			return
		case <-a.rewriteReq:
			a.startRewrite()
		case <-t.C:
			a.syncMu.Lock()
			err := a.writeLocked(false)
			f := a.f
			a.syncMu.Unlock()
			if err == nil && a.fsyncMode() == "everysec" {
				// Outside syncMu: clients go on writing meanwhile, and an
				// fsync may take long while a rewrite fills the disk.
				a.fsync(f)
			}
			a.mu.Lock()
			size := a.end - a.fileStart
			grown := size >= a.minRewrite && size >= 2*a.base
			a.mu.Unlock()
			if grown || a.enabling.Load() {
				a.startRewrite()
			}
		}
	}
}

// fsync fsyncs f, the file or one a rewrite has just replaced, without syncMu.
func (a *aof) fsync(f *os.File) {
	a.fileMu.Lock()
	defer a.fileMu.Unlock()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		a.mu.Lock()
		a.err = fmt.Errorf("cache: appendonly fsync: %w", err)
		a.mu.Unlock()
		a.log.Error("appendonly fsync failed: writes are refused", "err", err)
	}
}

// startRewrite starts a rewrite goroutine unless one runs.
func (a *aof) startRewrite() {
	if !a.rewriting.CompareAndSwap(false, true) {
		return
	}
	a.rewriteWG.Add(1)
	go func() {
		defer a.rewriteWG.Done()
		defer a.rewriting.Store(false)
		start := time.Now()
		if err := a.rewrite(a.stop); err != nil {
			a.log.Error("appendonly rewrite failed; the old file stays", "err", err)
			return
		}
		a.rewrites.Add(1)
		a.enabling.Store(false)
		if a.saved != nil {
			a.saved()
		}
		a.mu.Lock()
		size := a.base
		a.mu.Unlock()
		a.log.Info("appendonly file rewritten", "bytes", size, "took", time.Since(start).String(),
			"final_hold", time.Duration(a.lastFinish.Load()).String())
	}()
}

// requestRewrite asks the aof goroutine for a rewrite (BGREWRITEAOF).
func (a *aof) requestRewrite() {
	select {
	case a.rewriteReq <- struct{}{}:
	default:
	}
}

// beginRewrite starts copying appended records to the rewrite buffer and
// publishes snap. Every shard is locked: this is the rewrite's instant.
func (a *aof) beginRewrite(snap *snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rwBuf = make([]byte, 0, 64<<10)
	if a.db >= 0 {
		// The buffer's records follow the file's SELECTs: say where they start.
		a.rwBuf = appendCommand(a.rwBuf, []byte("SELECT"), []byte(strconv.Itoa(a.db)))
	}
	a.snap.Store(snap)
}

// abortRewrite stops the rewrite buffer; the old file goes on.
func (a *aof) abortRewrite() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rwBuf = nil
	a.snap.Store(nil)
}

// takeRewriteBuf returns what the rewrite buffer holds and empties it.
func (a *aof) takeRewriteBuf() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.rwBuf
	a.rwBuf = make([]byte, 0, 64<<10)
	return b
}

// finishRewrite writes the rest of the rewrite buffer to f (the rewritten file at
// tmp, size bytes so far, fsynced), makes it durable and puts it in place of the
// old file. Appends go on meanwhile (into buf, for the new file); only syncMu is
// held, so only the replies waiting for a write or an fsync wait.
func (a *aof) finishRewrite(f *os.File, tmp string, size int64) error {
	a.syncMu.Lock()
	held := time.Now()
	defer func() { a.lastFinish.Store(int64(time.Since(held))) }()
	a.mu.Lock()
	if err := a.err; err != nil {
		a.mu.Unlock()
		a.syncMu.Unlock()
		return err
	}
	// From here buf holds what the new file still lacks: the tail of the
	// rewrite buffer is everything appended since the instant up to end.
	tail, end, unwritten := a.rwBuf, a.end, a.buf
	a.rwBuf, a.buf = nil, nil
	a.snap.Store(nil)
	a.mu.Unlock()
	_, err := f.Write(tail)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		// The old file stays: give it back what it had not been written yet.
		a.mu.Lock()
		a.buf = append(unwritten, a.buf...)
		a.mu.Unlock()
		a.syncMu.Unlock()
		return err
	}
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		// The new file is whole and fsynced; only the rename may not survive a
		// power loss, and then the old file, also whole, is found instead.
		a.log.Warn("appendonly rewrite: fsync of the directory failed", "err", err)
	}
	old := a.f
	a.f = f
	a.written = end
	size += int64(len(tail))
	a.mu.Lock()
	a.base, a.fileStart = size, end-size
	a.mu.Unlock()
	a.syncMu.Unlock()
	// Not under syncMu: an everysec fsync of old may be under way.
	a.fileMu.Lock()
	old.Close()
	a.fileMu.Unlock()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// syncAll writes and fsyncs everything appended so far (SAVE, SHUTDOWN).
func (a *aof) syncAll() error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	return a.writeLocked(true)
}

// failed returns the error that stopped the log, if any.
func (a *aof) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// close writes and fsyncs what is left and closes the file.
func (a *aof) close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop) // a rewrite under way stops too
	<-a.done
	a.syncMu.Lock()
	err := a.writeLocked(a.fsyncMode() != "no")
	a.syncMu.Unlock()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}
