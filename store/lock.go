package store

import (
	"fmt"
	"sync"
	"time"
)

// lockTable holds the key locks of pessimistic transactions.
type lockTable struct {
	mu   sync.Mutex // guards held and every keyLock
	held map[string]*keyLock
	mine map[uint64][]string // keys each transaction holds
}

type keyLock struct {
	owner uint64
	freed chan struct{} // closed when the lock is released
}

func newLockTable() *lockTable {
	return &lockTable{held: make(map[string]*keyLock), mine: make(map[uint64][]string)}
}

// lock takes k for tx, waiting at most timeout. Wait-die: only an older transaction
// (smaller id) waits; a younger one fails at once with ErrDeadlock, so no cycle can form.
func (lt *lockTable) lock(tx *Tx, k string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		lt.mu.Lock()
		l := lt.held[k]
		if l == nil {
			lt.held[k] = &keyLock{owner: tx.id, freed: make(chan struct{})}
			lt.mine[tx.id] = append(lt.mine[tx.id], k)
			lt.mu.Unlock()
			return nil
		}
		if l.owner == tx.id {
			lt.mu.Unlock()
			return nil
		}
		if tx.id > l.owner {
			lt.mu.Unlock()
			return fmt.Errorf("%w: key %q is held by older transaction %d", ErrDeadlock, k[4:], l.owner)
		}
		freed := l.freed
		lt.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return fmt.Errorf("%w: key %q after %v", ErrLockTimeout, k[4:], timeout)
		}
	}
}

func (lt *lockTable) releaseAll(tx *Tx) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for _, k := range lt.mine[tx.id] {
		if l := lt.held[k]; l != nil && l.owner == tx.id {
			close(l.freed)
			delete(lt.held, k)
		}
	}
	delete(lt.mine, tx.id)
}
