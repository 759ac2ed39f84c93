package group

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Offset is one committed offset.
type Offset struct {
	Offset      int64  `json:"o"`
	LeaderEpoch int32  `json:"e"`
	Metadata    string `json:"m,omitempty"`
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// entry is one line of the offsets log: a commit, or the deletion of a group.
type entry struct {
	Group     string `json:"g"`
	Topic     string `json:"t,omitempty"`
	Partition int32  `json:"p,omitempty"`
	Offset
	Delete bool `json:"d,omitempty"`
}

// offsetStore keeps every group's committed offsets in memory and in the log file.
//
// The map m is guarded by the coordinator's mutex (mmu), which heartbeats, joins and
// offset fetches of every group need: no fsync ever runs under it. A commit is added
// to the pending batch under mmu (so the log holds commits in the order the
// coordinator decided them) and then waited for without it. One waiter at a time
// becomes the syncer: it writes and fsyncs the whole pending batch, then applies it to
// m under mmu, batch after batch in order, so memory and the log on replay agree that
// a later commit of a partition wins. Commits that arrive during an fsync gather in the
// next batch and share the next fsync (group commit).
type offsetStore struct {
	path string
	lg   *slog.Logger
	mmu  *sync.Mutex // the coordinator's mutex: guards m
	m    map[string]map[TopicPartition]Offset

	mu      sync.Mutex // guards the fields below; taken under mmu, never the other way round
	cond    sync.Cond  // signalled when a batch is done
	pending []entry    // the batch being gathered
	buf     []byte     // its encoded lines
	next    uint64     // id of the batch being gathered
	done    uint64     // batches up to this id are written, synced and applied (or failed)
	syncing bool       // a syncer is writing a batch
	err     error      // the first write or sync failure: sticky, see flush
	failed  uint64     // the id of the batch that failed
	syncs   int        // fsyncs of the log (tests count them)

	// Used only by the syncer (or by open and close, when there is none).
	f        *os.File
	lines    int                  // lines in the file, to know when to compact
	syncFile func(*os.File) error // (*os.File).Sync; tests slow it down
}

func openOffsets(dir string, mmu *sync.Mutex, lg *slog.Logger) (*offsetStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &offsetStore{path: filepath.Join(dir, "offsets.log"), m: map[string]map[TopicPartition]Offset{}, lg: lg,
		mmu: mmu, next: 1, syncFile: (*os.File).Sync}
	s.cond.L = &s.mu
	if err := s.replay(); err != nil {
		return nil, err
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *offsetStore) replay() error {
	f, err := os.Open(s.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		e, err := decodeLine(sc.Bytes())
		if err != nil {
			// Only the last line can be torn by a crash; anything after a bad line is
			// not trusted either.
			s.lg.Warn("offsets log: ignoring bad line and what follows", "line", n, "err", err)
			break
		}
		s.apply(e)
	}
	return nil
}

func decodeLine(line []byte) (entry, error) {
	var e entry
	sum, body, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return e, fmt.Errorf("no checksum")
	}
	want, err := strconv.ParseUint(string(sum), 16, 32)
	if err != nil || crc32.ChecksumIEEE(body) != uint32(want) {
		return e, fmt.Errorf("checksum mismatch")
	}
	return e, json.Unmarshal(body, &e)
}

func encodeLine(dst []byte, e entry) []byte {
	body, _ := json.Marshal(e)
	dst = strconv.AppendUint(dst, uint64(crc32.ChecksumIEEE(body)), 16)
	dst = append(dst, ' ')
	dst = append(dst, body...)
	return append(dst, '\n')
}

func (s *offsetStore) apply(e entry) {
	if e.Delete {
		delete(s.m, e.Group)
		return
	}
	g := s.m[e.Group]
	if g == nil {
		g = map[TopicPartition]Offset{}
		s.m[e.Group] = g
	}
	g[TopicPartition{e.Topic, e.Partition}] = e.Offset
}

// add puts entries into the pending batch and returns its id, for wait. The caller
// holds mmu, which orders commits.
func (s *offsetStore) add(es []entry) uint64 {
	var buf []byte
	for _, e := range es {
		buf = encodeLine(buf, e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, es...)
	s.buf = append(s.buf, buf...)
	return s.next
}

// wait returns once batch id is durable and applied in memory, or has failed. The
// caller must not hold mmu. If no syncer is running, the caller becomes it.
func (s *offsetStore) wait(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.done < id {
		if s.syncing {
			s.cond.Wait()
			continue
		}
		s.flush()
	}
	if s.failed != 0 && id >= s.failed {
		return s.err
	}
	return nil
}

// flush writes, syncs and applies the pending batch. It is called with s.mu held and
// releases it while it works. After a failed write or fsync the file's state is
// unknown (a failed fsync may have dropped dirty pages and reports it only once), so
// every later batch fails too until the broker restarts and replays the log.
func (s *offsetStore) flush() {
	es, buf, id, err := s.pending, s.buf, s.next, s.err
	s.pending, s.buf = nil, nil
	s.next++
	s.syncing = true
	s.mu.Unlock()
	synced := false
	if err == nil && len(buf) > 0 {
		if _, err = s.f.Write(buf); err == nil {
			err = s.syncFile(s.f)
			synced = true
		}
	}
	if err == nil {
		s.mmu.Lock()
		for _, e := range es {
			s.apply(e)
		}
		s.lines += len(es)
		compact := s.lines > 10000 && s.lines > 4*s.live()
		s.mmu.Unlock()
		if compact {
			if cerr := s.compact(); cerr != nil {
				s.lg.Error("offsets log: compaction", "err", cerr)
			}
		}
	}
	s.mu.Lock()
	if synced {
		s.syncs++
	}
	if err != nil && s.err == nil {
		s.err, s.failed = err, id
		s.lg.Error("offsets log: write failed; committing offsets fails until restart", "err", err)
	}
	s.done, s.syncing = id, false
	s.cond.Broadcast()
}

func (s *offsetStore) live() int {
	n := 0
	for _, g := range s.m {
		n += len(g)
	}
	return n
}

// compact rewrites the log with only the live offsets: a new file synced and renamed
// over the old one. Only the syncer (or open) calls it, so no batch is written
// meanwhile and m holds exactly what the file holds; m is read under mmu, and the file
// is written without it.
func (s *offsetStore) compact() error {
	var buf []byte
	s.mmu.Lock()
	for g, offs := range s.m {
		for tp, o := range offs {
			buf = encodeLine(buf, entry{Group: g, Topic: tp.Topic, Partition: tp.Partition, Offset: o})
		}
	}
	live := s.live()
	s.mmu.Unlock()
	tmp := s.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return err
	}
	f.Close()
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		d.Sync()
		d.Close()
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	s.lines = live
	return err
}

// close writes what is pending and closes the file. The caller must not hold mmu, and
// no entries may be added any more.
func (s *offsetStore) close() error {
	s.mu.Lock()
	for s.syncing || len(s.pending) > 0 {
		if s.syncing {
			s.cond.Wait()
			continue
		}
		s.flush()
	}
	s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
