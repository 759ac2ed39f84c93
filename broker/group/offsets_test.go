package group

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestOffsetsLogReplayIgnoresTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := openOffsets(dir, new(sync.Mutex), discard())
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 5; i++ {
		if err := writeNow(s, []entry{{Group: "g", Topic: "t", Partition: 0, Offset: Offset{Offset: i}}}); err != nil {
			t.Fatal(err)
		}
	}
	writeNow(s, []entry{{Group: "gone", Topic: "t", Offset: Offset{Offset: 9}}, {Group: "gone", Delete: true}})
	s.close()
	// A crash in the middle of the next line.
	f, _ := os.OpenFile(filepath.Join(dir, "offsets.log"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`1234abcd {"g":"g","t":"t","o":`))
	f.Close()

	s, err = openOffsets(dir, new(sync.Mutex), discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got := s.m["g"][TopicPartition{"t", 0}].Offset; got != 4 {
		t.Fatalf("replayed offset %d, want 4", got)
	}
	if _, ok := s.m["gone"]; ok {
		t.Fatal("a deleted group came back")
	}
	// Compaction on open left one line per live offset.
	p, _ := os.ReadFile(filepath.Join(dir, "offsets.log"))
	if n := countLines(p); n != 1 {
		t.Fatalf("%d lines after compaction, want 1", n)
	}
}

func countLines(p []byte) int {
	n := 0
	for _, c := range p {
		if c == '\n' {
			n++
		}
	}
	return n
}

// writeNow adds entries as a commit does and waits for them.
func writeNow(s *offsetStore, es []entry) error {
	s.mmu.Lock()
	id := s.add(es)
	s.mmu.Unlock()
	return s.wait(id)
}
