package cache

import (
	"bytes"
	"testing"
	"time"
)

// TestConformanceFixes compares with redis-server, byte for byte, the replies that
// differed before: the documented differences closed since the issue 4 audit, and
// what the differential test's mangled commands (wrong arity, extreme arguments)
// found. Each script names where the difference was.
func TestConformanceFixes(t *testing.T) { runScripts(t, conformanceFixes) }

var conformanceFixes = []script{
	// A RESP2 subscriber may run only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT
	// and RESET; a command's arity is checked first, then the context.
	{"subscribed context", `
SUBSCRIBE ch
COMMAND GETKEYS GET
COMMAND GETKEYS GET a
COMMAND GETKEYS
GET
GET a
CLIENT
CLIENT FOO
CLIENT GETNAME
PING
PING a
PING a b
NOSUCH
MULTI
EXEC
PSUBSCRIBE p*
PUBLISH other x
PUNSUBSCRIBE
UNSUBSCRIBE
PING
GET a
RESET
GET a
`},
	// COMMAND GETKEYS takes a command and at least one argument (arity -4), then
	// checks in Redis's order: the command (or subcommand) exists, has keys, has
	// its arity; LMPOP's and SINTERCARD's keys are counted by numkeys.
	{"command getkeys", `
COMMAND GETKEYS GET
COMMAND GETKEYS GET a
COMMAND GETKEYS GET a b
COMMAND GETKEYS SET a
COMMAND GETKEYS SET a b EX 10
COMMAND GETKEYS FOO a
COMMAND GETKEYS PING x
COMMAND GETKEYS CLIENT ID
COMMAND GETKEYS CLIENT FOO
COMMAND GETKEYS OBJECT ENCODING k
COMMAND GETKEYS object freq
COMMAND GETKEYS CONFIG GET x
COMMAND GETKEYS MSET a b c d
COMMAND GETKEYS MSET a b c
COMMAND GETKEYS BLPOP a b 0
COMMAND GETKEYS ZRANGESTORE dst src 0 1
COMMAND GETKEYS LMPOP 2 a b LEFT
COMMAND GETKEYS LMPOP 2 a LEFT
COMMAND GETKEYS LMPOP 0 a LEFT
COMMAND GETKEYS LMPOP -1 a LEFT
COMMAND GETKEYS LMPOP x a LEFT
COMMAND GETKEYS LMPOP 4 a LEFT
COMMAND GETKEYS SINTERCARD 1 a
COMMAND GETKEYS SINTERCARD 2 a b LIMIT 1
COMMAND GETKEYS SINTERCARD 5 a
COMMAND GETKEYS PUBLISH ch msg
`},
	// Found by TestDifferential's extended generator.
	{"argument order and ranges", `
SET s 1
GETEX nokey EX x
GETEX nokey EX 0
GETEX s EX x
GETEX s EX 9223372036854775807
GETEX s PERSIST PERSIST
GETEX s EX 100 EX 200
GETEX s EX 100 PX 200
GETEX s ex 100 EX 200
GETEX s PERSIST EX 10
GETEX s EX 10 PERSIST
TTL s
HSET h f 1
HINCRBYFLOAT s f inf
HINCRBYFLOAT nokey f -inf
HINCRBYFLOAT h f nan
HINCRBYFLOAT h f 1e400
HINCRBYFLOAT h f 1.5
SELECT 4294967296
SELECT -2147483649
SELECT 2147483647
MOVE s 4294967296
MOVE s -1
MOVE s 16
MOVE nokey 99
COPY s t DB 4294967296
COPY s t DB 16
COPY s s
COPY s s DB 1
SADD set 5 3 7 1
SRANDMEMBER set -9223372036854775808
SRANDMEMBER s -9223372036854775808
SRANDMEMBER set 9223372036854775808
SRANDMEMBER set 4
SRANDMEMBER set 100
SRANDMEMBER set 0
SPOP set -1
SPOP set x
SPOP set 9223372036854775807
SMEMBERS set
SET n 42
SET big 10000
SET neg -1
OBJECT REFCOUNT n
OBJECT REFCOUNT big
OBJECT REFCOUNT neg
OBJECT REFCOUNT h
OBJECT REFCOUNT nokey
`},
	// EXEC refused for its arity ends the transaction with EXECABORT, in MULTI
	// or not; UNWATCH queued in a transaction runs inside EXEC (it used to take
	// the shard locks EXEC held, and hang the server).
	{"transactions", `
EXEC x
MULTI
SET a 1
EXEC x
EXEC
GET a
WATCH a b
MULTI
SET a 2
UNWATCH
GET a
EXEC
WATCH a
MULTI
UNWATCH
DBSIZE
SET b 3
EXEC
MGET a b
`},
}

// resp3Server are server, pub/sub and transaction replies compared in RESP3 (maps,
// sets, pushes, nulls) by TestConformanceFixesRESP3; TestDifferential covers the
// data families in RESP3. Each line has one reply (one channel per SUBSCRIBE).
// UNSUBSCRIBE without channels is left out: Redis answers in its hash table's
// order, seeded at random per process. Publishing to oneself is
// TestConformancePublishToSelf's.
var resp3Server = []script{
	{"server and pub/sub", `
CONFIG GET maxmemory
CONFIG GET appendfsync
CONFIG GET nosuch
DBSIZE
SET k v
DBSIZE
ECHO hi
PING
PING x
TYPE k
OBJECT ENCODING nokey
OBJECT FREQ k
PUBSUB NUMSUB a b
PUBSUB NUMPAT
PUBSUB CHANNELS
SUBSCRIBE a
SUBSCRIBE b
PSUBSCRIBE p*
PUBSUB NUMSUB a b
PUBSUB NUMPAT
PUBLISH nobody hello
PING
GET k
PUNSUBSCRIBE p*
UNSUBSCRIBE a
UNSUBSCRIBE b
MULTI
GET k
GET nokey
HGETALL nokey
EXEC
FLUSHDB
DBSIZE
`},
}

// TestConformanceFixesRESP3 runs the same scripts in RESP3, where a subscriber may
// run any command and replies carry RESP3's types.
func TestConformanceFixesRESP3(t *testing.T) {
	all := append(append([]script(nil), conformanceFixes...), resp3Server...)
	scripts := make([]script, len(all))
	for i, s := range all {
		scripts[i] = script{s.name, "!HELLO 3\n" + s.script} // HELLO's reply carries the client id
	}
	runScripts(t, scripts)
}

// A RESP3 client that publishes to a channel it subscribed to in the same pipeline
// gets, as from Redis, the confirmation, then its message (and pattern message),
// then PUBLISH's reply; inside EXEC the messages sit in EXEC's array. The bytes
// up to a final PONG are compared whole.
func TestConformancePublishToSelf(t *testing.T) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	const pipeline = "SUBSCRIBE a\r\nPSUBSCRIBE a*\r\nPUBLISH a hello\r\nMULTI\r\nPUBLISH a x\r\nEXEC\r\nPUBLISH b y\r\nPING\r\n"
	var got [2]string
	for i, addr := range []string{redisAddr, gantryAddr} {
		r := dialRaw(t, addr)
		r.do("HELLO", "3")
		if _, err := r.c.Write([]byte(pipeline)); err != nil {
			t.Fatal(err)
		}
		r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b []byte
		for !bytes.HasSuffix(b, []byte("+PONG\r\n")) {
			line, err := r.br.ReadBytes('\n')
			b = append(b, line...)
			if err != nil {
				t.Fatalf("reading from %s after %q: %v", addr, b, err)
			}
		}
		got[i] = string(b)
	}
	if got[0] != got[1] {
		t.Fatalf("pipeline %q\n redis:  %q\n gantry: %q", pipeline, got[0], got[1])
	}
}
