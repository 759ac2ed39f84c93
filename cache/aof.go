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
// Config.AOFRewriteMinSize), or on BGREWRITEAOF, it is rewritten: the aof's own
// goroutine locks every shard, writes one command per key (plus PEXPIREAT) to a
// temporary file, fsyncs it and renames it over the old one. That is a pause for
// all clients while the keyspace is written (about a second per few million keys),
// not a copy-on-write fork as in Redis; in exchange the new file is exactly the
// dataset at one instant and the records buffered meanwhile can be dropped.

// aofName is the file's name in Config.Dir.
const aofName = "appendonly.aof"

type aof struct {
	mode string // always, everysec, no
	log  *slog.Logger

	mu     sync.Mutex // guards buf, db, end and err
	f      *os.File
	buf    []byte // appended, not yet written
	db     int    // the database the file's SELECTs last chose
	end    int64  // logical offset after buf
	err    error  // a failed write or fsync: every later sync fails
	closed bool

	syncMu sync.Mutex // serialises writers; guards written
	// written is the offset up to which the file holds the log (synced, in
	// always mode).
	written int64

	stop chan struct{}
	done chan struct{}

	path       string
	base       int64         // size after the last load or rewrite
	minRewrite int64         // no automatic rewrite below this size
	rewriteReq chan struct{} // BGREWRITEAOF
	rewrite    func() error  // set by the server: writes the keyspace anew
	rewrites   atomic.Int64  // rewrites done
	rewriting  atomic.Bool
	saved      func() // set by the server: a rewrite counts as a save (LASTSAVE)
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
	a := &aof{mode: mode, log: log, f: f, db: -1, end: good, written: good, stop: make(chan struct{}), done: make(chan struct{}),
		path: path, base: good, rewriteReq: make(chan struct{}, 1)}
	return a, nil
}

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
	return a.writeLocked(a.mode == "always")
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
// is buffered in the other modes, so nothing waits for long).
func (a *aof) everySecond() {
	defer close(a.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-a.rewriteReq:
			a.runRewrite()
		case <-t.C:
			a.syncMu.Lock()
			a.writeLocked(a.mode == "everysec")
			a.syncMu.Unlock()
			a.mu.Lock()
			grown := a.end >= a.minRewrite && a.end >= 2*a.base
			a.mu.Unlock()
			if grown {
				a.runRewrite()
			}
		}
	}
}

func (a *aof) runRewrite() {
	a.rewriting.Store(true)
	defer a.rewriting.Store(false)
	start := time.Now()
	if err := a.rewrite(); err != nil {
		a.log.Error("appendonly rewrite failed; the old file stays", "err", err)
		return
	}
	a.rewrites.Add(1)
	if a.saved != nil {
		a.saved()
	}
	a.log.Info("appendonly file rewritten", "bytes", a.base, "took", time.Since(start).String())
}

// requestRewrite asks the aof goroutine for a rewrite (BGREWRITEAOF).
func (a *aof) requestRewrite() {
	select {
	case a.rewriteReq <- struct{}{}:
	default:
	}
}

// replaceWith switches to the rewritten file at tmp, whose last SELECT chose db.
// Every shard is locked, so nothing is appended meanwhile and what was buffered
// is already part of the new file.
func (a *aof) replaceWith(tmp string, size int64, db int) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	if err := os.Rename(tmp, a.path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(a.path)); err == nil {
		d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.mu.Lock()
		a.err = fmt.Errorf("cache: appendonly reopen after rewrite: %w", err)
		a.mu.Unlock()
		return err
	}
	a.f.Close()
	a.f = f
	a.mu.Lock()
	a.buf, a.db, a.base = nil, db, size
	a.written = a.end
	a.mu.Unlock()
	return nil
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
	close(a.stop)
	<-a.done
	a.syncMu.Lock()
	err := a.writeLocked(a.mode != "no")
	a.syncMu.Unlock()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}
