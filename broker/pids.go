package broker

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// pidBlock is how many producer ids are reserved on disk at a time: a restart skips
// the rest of the block, so that no id is ever handed out twice.
const pidBlock = 1000

// producerIDs hands out the ids of idempotent producers (InitProducerId).
type producerIDs struct {
	path string
	mu   sync.Mutex // protects next and limit
	next int64
	end  int64 // ids below end are reserved on disk
}

func openProducerIDs(dir string) (*producerIDs, error) {
	p := &producerIDs{path: filepath.Join(dir, "producer-ids.json")}
	b, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var v struct{ Reserved int64 }
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		p.next = v.Reserved
	}
	p.end = p.next
	return p, nil
}

func (p *producerIDs) nextID() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		if err := writeJSON(p.path, struct{ Reserved int64 }{p.end + pidBlock}); err != nil {
			return 0, err
		}
		p.end += pidBlock
	}
	id := p.next
	p.next++
	return id, nil
}
