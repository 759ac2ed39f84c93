package vfs

import (
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
)

// MemFS is an in-memory FS that models what a power cut does to unsynced data. Each file
// keeps what is durable apart from the writes made since its last Sync; Crash forgets the
// open handles and keeps, of each unsynced write, all of it, none of it, or (torn) a prefix
// cut at a 512-byte sector boundary, chosen at random. The zero value is not usable: call
// NewMemFS.
//
// Directory entries are modelled as a journalling file system keeps them: renames and
// removals since the last SyncDir survive a crash as a random prefix of them, in order.
// Creating a file commits the entries before it and itself (as the journal commit that a
// creation's fsync forces would).
//
// Crash models a power cut, not the end of the process that used the FS: a goroutine of
// that process still running would go on writing into the files after it. So a MemFS asks
// its users for no work of their own goroutines (Serial) unless Concurrent is set, for
// tests that never crash it with a user open.
type MemFS struct {
	Concurrent bool

	mu     sync.Mutex // guards everything below and every memFile
	files  map[string]*memFile
	dnames map[string]*memFile // the directory as it is durable
	dirOps []dirOp             // renames and removals since the last SyncDir
}

type dirOp struct {
	old, new string // new == "" for a removal
}

// memFile is one file's contents: durable is what survives a crash; data is what reads see.
type memFile struct {
	durable []byte
	data    []byte
	pending []pendingWrite // writes since the last Sync, in order
	locked  bool
	gen     int // bumped by Crash so that handles from before it fail
}

type pendingWrite struct {
	off      int64
	p        []byte
	truncate bool // a Truncate to off
}

// NewMemFS returns an empty in-memory file system.
func NewMemFS() *MemFS {
	return &MemFS{files: make(map[string]*memFile), dnames: make(map[string]*memFile)}
}

// OpenFile implements FS.
func (fs *MemFS) OpenFile(name string, create bool) (File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.files[name]
	if !ok {
		if !create {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		f = &memFile{}
		fs.files[name] = f
		fs.syncDir()
	}
	return &memHandle{fs: fs, f: f, name: name, gen: f.gen}, nil
}

// Serial reports whether the FS asks for its operations from the callers' goroutines
// only (not Concurrent).
func (fs *MemFS) Serial() bool { return !fs.Concurrent }

// Exists implements FS.
func (fs *MemFS) Exists(name string) (bool, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, ok := fs.files[name]
	return ok, nil
}

// List implements FS.
func (fs *MemFS) List(prefix string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var names []string
	for name := range fs.files {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Rename implements FS.
func (fs *MemFS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.files[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	delete(fs.files, oldname)
	fs.files[newname] = f
	fs.dirOps = append(fs.dirOps, dirOp{oldname, newname})
	return nil
}

// Remove implements FS.
func (fs *MemFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.files[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(fs.files, name)
	fs.dirOps = append(fs.dirOps, dirOp{old: name})
	return nil
}

// SyncDir implements FS. A MemFS is one directory.
func (fs *MemFS) SyncDir(string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.syncDir()
	return nil
}

func (fs *MemFS) syncDir() {
	fs.dnames = maps.Clone(fs.files)
	fs.dirOps = nil
}

// Crash simulates a power cut: every handle becomes unusable, locks are dropped, each
// file keeps its durable bytes plus a random part of its unsynced writes, and the
// directory keeps a random prefix of the renames and removals not yet synced.
func (fs *MemFS) Crash(rng *rand.Rand) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	names, kept := fs.dnames, 0
	if len(fs.dirOps) > 0 { // draw only then: crash outcomes of tests without renames stay as they were
		kept = rng.IntN(len(fs.dirOps) + 1)
	}
	for _, op := range fs.dirOps[:kept] {
		if f, ok := names[op.old]; ok {
			delete(names, op.old)
			if op.new != "" {
				names[op.new] = f
			}
		}
	}
	for _, f := range fs.files { // files the crash removes: their handles die too
		f.gen++
	}
	fs.files = names
	fs.syncDir()
	for _, f := range fs.files {
		d := f.durable
		for _, w := range f.pending {
			switch {
			case rng.IntN(3) == 0: // lost
			case w.truncate:
				d = resize(d, w.off)
			case rng.IntN(2) == 0: // all of it
				d = writeAt(d, w.p, w.off)
			default: // torn at a sector boundary
				n := rng.IntN(len(w.p)/512+1) * 512
				d = writeAt(d, w.p[:min(n, len(w.p))], w.off)
			}
		}
		f.durable = d
		f.data = append([]byte(nil), d...)
		f.pending = nil
		f.locked = false
		f.gen++
	}
}

// Contents returns a copy of what reads of name see now.
func (fs *MemFS) Contents(name string) []byte {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.files[name]; ok {
		return append([]byte(nil), f.data...)
	}
	return nil
}

func resize(b []byte, n int64) []byte {
	if int64(len(b)) >= n {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

func writeAt(b, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], p)
	return b
}

type memHandle struct {
	fs     *MemFS
	f      *memFile
	name   string
	gen    int
	closed bool
	locked bool
}

func (h *memHandle) check() error {
	if h.closed || h.gen != h.f.gen {
		return &os.PathError{Op: "use", Path: h.name, Err: os.ErrClosed}
	}
	return nil
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	h.f.data = writeAt(h.f.data, p, off)
	h.f.pending = append(h.f.pending, pendingWrite{off: off, p: append([]byte(nil), p...)})
	return len(p), nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	for _, w := range h.f.pending { // replay rather than copy: files here are large
		if w.truncate {
			h.f.durable = resize(h.f.durable, w.off)
		} else {
			h.f.durable = writeAt(h.f.durable, w.p, w.off)
		}
	}
	h.f.pending = nil
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	h.f.data = resize(h.f.data, size)
	h.f.pending = append(h.f.pending, pendingWrite{off: size, truncate: true})
	return nil
}

func (h *memHandle) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Lock() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	if h.f.locked {
		return ErrLocked
	}
	h.f.locked, h.locked = true, true
	return nil
}

func (h *memHandle) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if h.locked && h.gen == h.f.gen {
		h.f.locked = false
	}
	return nil
}
