package cache

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzCommands sends command sequences decoded from the input to a real server:
// each line is a command, its words the arguments. Every command must get exactly one
// well-formed reply in time, and afterwards the server must still answer PING on a
// new connection. So no arguments, however odd, crash the server, hang it or break
// the framing of its replies. The differential test compares replies with Redis's on
// a generated stream; this one lets coverage find the argument shapes.
//
//	go test ./cache -run '^$' -fuzz FuzzCommands -fuzztime 2m
func FuzzCommands(f *testing.F) {
	for _, seed := range []string{
		"SET k v EX 10\nGET k\nAPPEND k xyz\nGETRANGE k -2 -1\nSETRANGE k 1 ab",
		"INCRBY n 9223372036854775807\nINCR n\nINCRBYFLOAT n 1e308\nDECRBY n -9223372036854775808",
		"RPUSH l a b c\nLRANGE l 0 -1\nLPOS l b RANK -1 MAXLEN 0\nLINSERT l BEFORE b x\nLMOVE l l2 LEFT RIGHT\nLPOP l 2",
		"SADD s 1 2 3\nSRANDMEMBER s -5\nSPOP s 2\nSINTERSTORE d s s\nSSCAN s 0 MATCH * COUNT 1",
		"HSET h f 1 g 2\nHINCRBYFLOAT h f 0.5\nHSCAN h 0 COUNT 1\nHGETALL h",
		"ZADD z NX CH 1 a 2 b\nZRANGE z (1 +inf BYSCORE LIMIT 0 1\nZRANGE z [a + BYLEX REV LIMIT 0 -1\nZPOPMIN z 2",
		"MULTI\nSET a 1\nINCR a\nEXEC\nWATCH a\nMULTI\nDISCARD",
		"HELLO 3\nHGETALL h\nZSCORE z a\nSMEMBERS s\nCLIENT INFO",
		"EXPIRE k 10 NX\nPEXPIREAT k 1 GT\nTTL k\nOBJECT ENCODING k\nCOPY k k2 DB 1 REPLACE\nSCAN 0 TYPE string",
	} {
		f.Add(seed)
	}
	_, addr := startServer(f, Config{Dir: f.TempDir()})
	f.Fuzz(func(t *testing.T, script string) {
		c := dialRaw(t, addr)
		c.do("FLUSHALL")
		for line := range strings.SplitSeq(script, "\n") {
			args := strings.Fields(line)
			if len(args) == 0 || !fuzzable(args) {
				continue
			}
			c.c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.c.Write(encodeCommand(args)); err != nil {
				t.Fatalf("%q: write: %v", args, err)
			}
			if err := readReply(c.br, new(strings.Builder)); err != nil {
				t.Fatalf("%q: %v", args, err)
			}
		}
		if got := dialRaw(t, addr).do("PING"); got != "+PONG\r\n" {
			t.Fatalf("PING after %q = %q", script, got)
		}
	})
}

// fuzzable reports whether FuzzCommands may send args. Left out are commands that wait
// by design (blocking pops), change how replies come (subscriptions, CLIENT REPLY),
// end the connection or the server, write files, or change the server for the inputs
// after (CONFIG SET, which could set a password); and arguments that are legal but make
// real work of gigabytes, such as SETRANGE at an offset of 500M: integers from 2^20 to
// 2^62 in magnitude. Smaller and more extreme ones stay, for the range and overflow
// checks.
func fuzzable(args []string) bool {
	switch strings.ToLower(args[0]) {
	case "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
		"subscribe", "psubscribe", "ssubscribe", "monitor", "quit", "shutdown", "debug",
		"save", "bgsave", "bgrewriteaof", "config", "client", "failover", "replicaof", "slaveof":
		return false
	}
	for _, a := range args[1:] {
		n, err := strconv.ParseInt(a, 10, 64)
		if m := max(n, -n); err == nil && m > 1<<20 && m < 1<<62 { // (-MinInt64 is MinInt64: kept)
			return false
		}
	}
	return true
}
