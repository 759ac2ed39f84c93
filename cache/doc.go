// Package cache is a Redis-compatible in-memory cache server: the keyspace, the data
// types (strings, hashes, lists, sets, sorted sets), expiry, and the RESP server that
// redis-cli, redis-benchmark and go-redis talk to.
//
// A Server answers each connection on its own goroutine. The goroutine reads every
// command the client has already sent (package resp), runs them one by one, and
// writes all their replies with one write when the input runs dry: that is how a
// pipeline of 16 commands costs one read and one write, as in Redis.
//
// The keyspace is split into shards by a hash of the key, each shard with its own
// mutex and its own map per database, so that connections on different cores work
// in parallel where single-threaded Redis cannot. A command locks the shards of the
// keys it names (found from the command table's key positions, as Redis's COMMAND
// INFO states them) in ascending order, so every command is atomic and multi-key
// commands cannot deadlock; commands over the whole keyspace (KEYS, SCAN, FLUSHALL)
// lock every shard.
//
//	conn goroutine:  read batch ─▶ for each command: lock shards ─▶ run ─▶ unlock ─▶ append reply
//	                                                                   ╰─▶ one write per batch
//
// Keys expire lazily when touched and in an active cycle that samples keys with a
// time to live, ten times a second, as Redis does.
package cache
