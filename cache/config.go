package cache

import (
	"fmt"
	"log/slog"
	"time"

	"gantry/resp"
)

// Config configures a Server. The zero value is a cache without a password, memory
// limit or persistence, with Redis's default limits.
type Config struct {
	// Databases is the number of databases SELECT can choose from. Default 16.
	Databases int

	// RequirePass, when set, is the password AUTH must give before any other command.
	RequirePass string

	// MaxClients is the most connections served at once; more are answered with
	// Redis's "max number of clients reached" error and closed. Default 10000.
	MaxClients int

	// Timeout closes a connection idle for this long. Zero never does (Redis's default).
	Timeout time.Duration

	// MaxMemory is the most bytes the keyspace may hold; 0 means no limit.
	MaxMemory int64
	// MaxMemoryPolicy is what happens at MaxMemory: "noeviction" (the default:
	// writes fail with an OOM error) or one of the eviction policies.
	MaxMemoryPolicy string
	// GoMemoryLimit, with MaxMemory set, gives the Go runtime a soft memory limit
	// derived from it (see memoryLimit: MaxMemory*1.25 + 32 MB), kept in step with
	// CONFIG SET maxmemory and removed at maxmemory 0 and at Shutdown, so that the
	// process's memory stays near MaxMemory rather than growing to about twice the
	// keys between collections. The limit is process-wide
	// (runtime/debug.SetMemoryLimit), so it is an option: a program that runs one
	// server turns it on (gantry cache does); one that runs several servers in a
	// process, as the tests do, leaves it off or the servers would overwrite each
	// other's limit.
	GoMemoryLimit bool

	// AppendOnly turns on the append-only file, Dir/appendonly.aof, replayed at
	// start. AppendFsync is "always" (fsync before a write is acknowledged),
	// "everysec" (the default) or "no". Dir defaults to ".".
	AppendOnly  bool
	AppendFsync string
	Dir         string
	// AOFRewriteMinSize is the size below which the file is not rewritten when it
	// doubles. Default 64 MB (Redis's auto-aof-rewrite-min-size).
	AOFRewriteMinSize int64

	// Limits bound what a client may send (see resp.Limits for the defaults).
	Limits resp.Limits

	// OutputBufferLimit is the most bytes of messages that may wait for a
	// subscriber that does not read; past it the subscriber is disconnected.
	// Default 32 MB, Redis's hard limit for pubsub clients. (Other clients get
	// back-pressure: their goroutine waits in write.)
	OutputBufferLimit int
	// OutputLimits is client-output-buffer-limit (see OutputLimit). A class left
	// zero gets Redis's default: normal none, replica 256mb 64mb 60, pubsub
	// OutputBufferLimit 8mb 60.
	OutputLimits OutputLimits

	// GoroutinePerConn serves every connection with a goroutine of its own. By
	// default, on Linux, connections are served by epoll event loops instead
	// (fewer system calls and goroutine switches per command); a connection that
	// waits (a blocking command, until it is done; a subscription; a slow reader)
	// gets a goroutine anyway.
	GoroutinePerConn bool
	// EventLoops is how many event loops serve connections (Linux, without
	// GoroutinePerConn). Default one for every two cores (GOMAXPROCS/2), at least 1.
	EventLoops int
	// GoMaxProcs sets GOMAXPROCS to the number of event loops when they start,
	// unless the GOMAXPROCS environment variable is set, and puts it back at
	// Shutdown. With no P to spare a loop waits parked in the runtime's network
	// poller instead of blocked in epoll_wait, and needs no thread of its own:
	// nothing then wakes in the process while it waits, as nothing wakes in
	// Redis's (see loop.run). The setting is process-wide, so it is an option,
	// as GoMemoryLimit is: gantry cache, which runs one server, turns it on.
	GoMaxProcs bool

	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger
}

var policies = []string{
	"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
}

func validPolicy(p string) bool {
	for _, q := range policies {
		if p == q {
			return true
		}
	}
	return false
}

func (c Config) withDefaults() (Config, error) {
	if c.Databases == 0 {
		c.Databases = 16
	}
	if c.Databases < 1 || c.Databases > 1024 {
		return c, fmt.Errorf("cache: databases must be 1 to 1024, not %d", c.Databases)
	}
	if c.MaxClients == 0 {
		c.MaxClients = 10000
	}
	if c.MaxClients < 1 {
		return c, fmt.Errorf("cache: maxclients must be positive, not %d", c.MaxClients)
	}
	if c.EventLoops < 0 || c.EventLoops > 1024 {
		return c, fmt.Errorf("cache: event loops must be 0 to 1024, not %d", c.EventLoops)
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("cache: timeout must not be negative")
	}
	if c.MaxMemory < 0 {
		return c, fmt.Errorf("cache: maxmemory must not be negative")
	}
	if c.MaxMemoryPolicy == "" {
		c.MaxMemoryPolicy = "noeviction"
	}
	if !validPolicy(c.MaxMemoryPolicy) {
		return c, fmt.Errorf("cache: maxmemory-policy %q is not one of %v", c.MaxMemoryPolicy, policies)
	}
	if c.AppendFsync == "" {
		c.AppendFsync = "everysec"
	}
	switch c.AppendFsync {
	case "always", "everysec", "no":
	default:
		return c, fmt.Errorf("cache: appendfsync must be always, everysec or no, not %q", c.AppendFsync)
	}
	if c.AOFRewriteMinSize == 0 {
		c.AOFRewriteMinSize = 64 << 20
	}
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.OutputBufferLimit < 0 {
		return c, fmt.Errorf("cache: OutputBufferLimit must not be negative, not %d", c.OutputBufferLimit)
	}
	if c.OutputBufferLimit == 0 {
		c.OutputBufferLimit = 32 << 20
	}
	if err := c.OutputLimits.check(); err != nil {
		return c, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// ParseOutputLimits reads client-output-buffer-limit as redis.conf, CONFIG SET
// and gantry cache's flag give it: groups of a class (normal, replica or slave,
// pubsub), a hard limit, a soft limit (bytes, or 64mb, 1gb, ...) and the soft
// limit's seconds, such as "normal 0 0 0 pubsub 32mb 8mb 60". Each group replaces
// its class in base; the classes not named keep base's. The error names the
// setting and says what is wrong, in Redis's words.
func ParseOutputLimits(base OutputLimits, v string) (OutputLimits, error) {
	o, bad := parseOutputLimits(base, v)
	if bad != "" {
		return base, fmt.Errorf("client-output-buffer-limit %q: %s", v, bad)
	}
	return o, nil
}

// check refuses negative limits, naming the field.
func (o OutputLimits) check() error {
	for _, c := range []struct {
		name string
		l    OutputLimit
	}{{"Normal", o.Normal}, {"Replica", o.Replica}, {"Pubsub", o.Pubsub}} {
		for _, f := range []struct {
			name string
			v    int64
		}{{"Hard", c.l.Hard}, {"Soft", c.l.Soft}, {"SoftSeconds", c.l.SoftSeconds}} {
			if f.v < 0 {
				return fmt.Errorf("cache: OutputLimits.%s.%s must not be negative, not %d", c.name, f.name, f.v)
			}
		}
	}
	return nil
}
