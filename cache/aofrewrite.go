package cache

import (
	"bufio"
	"os"
	"strconv"
	"time"
)

// rewriteAOF writes the whole keyspace as a new append-only file and puts it in
// place of the old one, with every shard locked (see aof.go).
func (s *Server) rewriteAOF() error {
	for i := range s.ks.shards {
		s.ks.shards[i].mu.Lock()
	}
	defer func() {
		for i := len(s.ks.shards) - 1; i >= 0; i-- {
			s.ks.shards[i].mu.Unlock()
		}
	}()
	tmp := s.aof.path + ".rewrite"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	w := &countWriter{w: bufio.NewWriterSize(f, 256<<10)}
	now := time.Now().UnixMilli()
	lastDB := -1
	for db := range s.dbs {
		for i := range s.ks.shards {
			for k, e := range s.ks.shards[i].dbs[db].all() {
				if e.exp != 0 && e.exp <= now {
					continue
				}
				if db != lastDB {
					w.cmd([]byte("SELECT"), []byte(strconv.Itoa(db)))
					lastDB = db
				}
				writeKey(w, []byte(k), e)
			}
		}
	}
	if err := w.flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return s.aof.replaceWith(tmp, w.n, lastDB)
}

// writeKey writes the commands that recreate one key.
func writeKey(w *countWriter, k []byte, e *entry) {
	const chunk = 64 // elements per command
	b := func(s string) []byte { return []byte(s) }
	switch e.kind {
	case kString:
		w.cmd(b("SET"), k, e.str)
	case kList:
		items := e.obj.(*list).slice()
		for i := 0; i < len(items); i += chunk {
			w.cmd(append([][]byte{b("RPUSH"), k}, items[i:min(i+chunk, len(items))]...)...)
		}
	case kHash:
		args := [][]byte{b("HSET"), k}
		e.obj.(*hash).each(func(f string, v []byte) {
			args = append(args, []byte(f), v)
			if len(args) >= 2+2*chunk {
				w.cmd(args...)
				args = args[:2]
			}
		})
		if len(args) > 2 {
			w.cmd(args...)
		}
	case kSet:
		args := [][]byte{b("SADD"), k}
		for _, m := range e.obj.(*set).members() {
			args = append(args, []byte(m))
			if len(args) >= 2+chunk {
				w.cmd(args...)
				args = args[:2]
			}
		}
		if len(args) > 2 {
			w.cmd(args...)
		}
	case kZSet:
		z := e.obj.(*zset)
		args := [][]byte{b("ZADD"), k}
		for x := z.head.level[0].next; x != nil; x = x.level[0].next {
			args = append(args, strconv.AppendFloat(nil, x.score, 'g', -1, 64), []byte(x.member))
			if len(args) >= 2+2*chunk {
				w.cmd(args...)
				args = args[:2]
			}
		}
		if len(args) > 2 {
			w.cmd(args...)
		}
	}
	if e.exp != 0 {
		w.cmd(b("PEXPIREAT"), k, strconv.AppendInt(nil, e.exp, 10))
	}
}

// countWriter writes commands and counts the bytes.
type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
	buf []byte
}

func (c *countWriter) cmd(args ...[]byte) {
	if c.err != nil {
		return
	}
	c.buf = appendCommand(c.buf[:0], args...)
	n, err := c.w.Write(c.buf)
	c.n += int64(n)
	c.err = err
}

func (c *countWriter) flush() error {
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
