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
// The coordinator's mutex guards it.
type offsetStore struct {
	path  string
	f     *os.File
	lines int // lines in the file, to know when to compact
	m     map[string]map[TopicPartition]Offset
	lg    *slog.Logger
}

func openOffsets(dir string, lg *slog.Logger) (*offsetStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &offsetStore{path: filepath.Join(dir, "offsets.log"), m: map[string]map[TopicPartition]Offset{}, lg: lg}
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

// write appends entries and syncs them before applying them in memory.
func (s *offsetStore) write(es []entry) error {
	var buf []byte
	for _, e := range es {
		buf = encodeLine(buf, e)
	}
	if _, err := s.f.Write(buf); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	for _, e := range es {
		s.apply(e)
	}
	s.lines += len(es)
	if s.lines > 10000 && s.lines > 4*s.live() {
		if err := s.compact(); err != nil {
			s.lg.Error("offsets log: compaction", "err", err)
		}
	}
	return nil
}

func (s *offsetStore) live() int {
	n := 0
	for _, g := range s.m {
		n += len(g)
	}
	return n
}

// compact rewrites the log with only the live offsets: a new file synced and renamed
// over the old one.
func (s *offsetStore) compact() error {
	var buf []byte
	for g, offs := range s.m {
		for tp, o := range offs {
			buf = encodeLine(buf, entry{Group: g, Topic: tp.Topic, Partition: tp.Partition, Offset: o})
		}
	}
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
	s.lines = s.live()
	return err
}

func (s *offsetStore) close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
