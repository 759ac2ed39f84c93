package cache

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"time"
	"unsafe"
)

// snapshot is a rewrite in progress: the dataset as of the rewrite's instant,
// taken one shard at a time (see aof.go).
type snapshot struct {
	// pending[i] is set while shard i has not been serialised yet; guarded by
	// shard i's mutex.
	pending [nShards]bool
	// parts[i] is shard i serialised by a write command that got to it before
	// the rewrite goroutine did; guarded by shard i's mutex.
	parts [nShards][]byte
}

var errRewriteStopped = errors.New("cache: appendonly rewrite stopped by shutdown")

// beforeWrite runs before a write command changes the shards it has locked:
// while a rewrite is taking its snapshot, a shard not serialised yet is
// serialised first, so the snapshot keeps the shard as it was at the rewrite's
// instant. The cost is one atomic load when no rewrite runs.
func (c *client) beforeWrite() {
	if c.s.aof.Load() == nil {
		return
	}
	snap := c.s.aof.Load().snap.Load()
	if snap == nil {
		return
	}
	for _, i := range c.locked {
		if snap.pending[i] {
			snap.parts[i] = c.s.serializeShard(i, nil)
			snap.pending[i] = false
		}
	}
}

// beforeWriteShard is beforeWrite for a caller that locked one shard itself.
func (c *client) beforeWriteShard(key []byte) {
	saved := c.locked
	c.locked = []int{c.s.ks.shardOf(key)}
	c.beforeWrite()
	c.locked = saved
}

// rewriteAOF writes the dataset as a new append-only file for a and puts it in
// place of the old one without pausing clients beyond one shard's serialisation (see
// aof.go). It gives up when stop is closed.
func (s *Server) rewriteAOF(a *aof, stop <-chan struct{}) (err error) {
	tmp := a.path + ".rewrite"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			a.abortRewrite()
			f.Close()
			os.Remove(tmp)
		}
	}()

	// The instant: with every shard locked, mark them all pending and start
	// the rewrite buffer. Nothing is copied here.
	snap := &snapshot{}
	for i := range s.ks.shards {
		s.ks.shards[i].mu.Lock()
	}
	for i := range snap.pending {
		snap.pending[i] = true
	}
	a.beginRewrite(snap)
	for i := len(s.ks.shards) - 1; i >= 0; i-- {
		s.ks.shards[i].mu.Unlock()
	}

	w := bufio.NewWriterSize(f, 256<<10)
	var size, synced int64
	write := func(b []byte) error {
		n, err := w.Write(b)
		size += int64(n)
		if err == nil && size-synced >= 4<<20 {
			// An fsync every 4 MB, as Redis's aof-rewrite-incremental-fsync:
			// a pile of dirty pages would make the live file's fsyncs wait
			// for them (the filesystem's journal orders them).
			if err = w.Flush(); err == nil {
				err = f.Sync()
			}
			synced = size
		}
		return err
	}
	var buf []byte
	for i := range s.ks.shards {
		select {
		case <-stop:
			return errRewriteStopped
		default:
		}
		sh := &s.ks.shards[i]
		sh.mu.Lock()
		part := snap.parts[i]
		if snap.pending[i] {
			buf = s.serializeShard(i, buf[:0])
			part = buf
			snap.pending[i] = false
		}
		snap.parts[i] = nil
		sh.mu.Unlock()
		if err := write(part); err != nil {
			return err
		}
	}
	// What was appended meanwhile, drained while it keeps coming, so that the
	// last part, written while replies wait, is small.
	for range 8 {
		b := a.takeRewriteBuf()
		if err := write(b); err != nil {
			return err
		}
		if len(b) < 64<<10 {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return a.finishRewrite(f, tmp, size)
}

// serializeShard appends to b the commands that recreate every live key of shard
// i, whose lock the caller holds, each database's keys after a SELECT. It runs
// with the shard locked, so the common case, a string key, allocates nothing.
func (s *Server) serializeShard(i int, b []byte) []byte {
	sh := &s.ks.shards[i]
	now := time.Now().UnixMilli()
	for db := range sh.dbs {
		d := sh.dbs[db]
		if d.len() == 0 {
			continue
		}
		if b == nil {
			b = make([]byte, 0, d.len()*64)
		}
		b = appendCommand(b, []byte("SELECT"), []byte(strconv.Itoa(db)))
		for k, e := range d.all() {
			if e.exp != 0 && e.exp <= now {
				continue
			}
			b = appendKey(b, k, e)
		}
	}
	return b
}

// appendKey appends the commands that recreate one key.
func appendKey(b []byte, k string, e *entry) []byte {
	switch e.kind {
	case kString:
		b = append(b, "*3\r\n$3\r\nSET\r\n"...)
		b = appendBulk(b, k)
		b = appendBulk(b, unsafeString(e.str))
	case kList:
		b = appendChunked(b, "RPUSH", k, 1, func(yield func(...[]byte)) {
			for _, v := range e.obj.(*list).slice() {
				yield(v)
			}
		})
	case kHash:
		b = appendChunked(b, "HSET", k, 2, func(yield func(...[]byte)) {
			e.obj.(*hash).each(func(f string, v []byte) { yield([]byte(f), v) })
		})
	case kSet:
		b = appendChunked(b, "SADD", k, 1, func(yield func(...[]byte)) {
			for _, m := range e.obj.(*set).members() {
				yield([]byte(m))
			}
		})
	case kZSet:
		b = appendChunked(b, "ZADD", k, 2, func(yield func(...[]byte)) {
			z := e.obj.(*zset)
			for x := z.head.level[0].next; x != nil; x = x.level[0].next {
				yield(strconv.AppendFloat(nil, x.score, 'g', -1, 64), []byte(x.member))
			}
		})
	}
	if e.exp != 0 {
		b = append(b, "*3\r\n$9\r\nPEXPIREAT\r\n"...)
		b = appendBulk(b, k)
		var num [20]byte
		b = appendBulk(b, unsafeString(strconv.AppendInt(num[:0], e.exp, 10)))
	}
	return b
}

// appendChunked appends commands NAME key elements..., 64 elements per command,
// with the elements (of per arguments each) that each yields.
func appendChunked(b []byte, name, k string, per int, each func(yield func(...[]byte))) []byte {
	const chunk = 64
	args := make([][]byte, 2, 2+per*chunk)
	args[0], args[1] = []byte(name), []byte(k)
	each(func(el ...[]byte) {
		args = append(args, el...)
		if len(args) == cap(args) {
			b = appendCommand(b, args...)
			args = args[:2]
		}
	})
	if len(args) > 2 {
		b = appendCommand(b, args...)
	}
	return b
}

// appendBulk appends s as a RESP bulk string.
func appendBulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// unsafeString views b as a string for appending; b must not change meanwhile.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
