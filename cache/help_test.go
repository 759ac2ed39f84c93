package cache

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The HELP subcommands answer as Redis's do (an array of status lines, in RESP2
// and RESP3 alike, that redis-cli prints one per line) with gantry's own text,
// which names every subcommand gantry has.
func TestHelpSubcommands(t *testing.T) {
	redisAddr := startRedis(t)
	srv, addr := startServer(t, Config{})
	cli := redisCLI(t, addr)
	ctx := context.Background()
	for _, name := range []string{"client", "config", "command", "object", "pubsub"} {
		t.Run(name, func(t *testing.T) {
			upper := strings.ToUpper(name)
			// The reply's shape, byte by byte: '*' and a count, then only status lines.
			for _, a := range []string{redisAddr, addr} {
				for _, proto := range []string{"2", "3"} {
					r := dialRaw(t, a)
					if proto == "3" {
						r.do("HELLO", "3")
					}
					raw := r.do(upper, "HELP")
					lines := strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n")
					if !strings.HasPrefix(lines[0], "*") || len(lines) < 3 {
						t.Fatalf("%s RESP%s: %s HELP = %q", a, proto, upper, raw)
					}
					for _, l := range lines[1:] {
						if !strings.HasPrefix(l, "+") {
							t.Fatalf("%s RESP%s: %s HELP has a line that is not a status: %q", a, proto, upper, l)
						}
					}
					if lines[0] != "*"+strconv.Itoa(len(lines)-1) {
						t.Fatalf("%s RESP%s: %s HELP counts %s for %d lines", a, proto, upper, lines[0], len(lines)-1)
					}
				}
			}
			for _, proto := range []int{2, 3} {
				rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DisableIdentity: true})
				defer rdb.Close()
				v, err := rdb.Do(ctx, name, "help").StringSlice()
				if err != nil {
					t.Fatalf("go-redis RESP%d: %v", proto, err)
				}
				if !strings.HasPrefix(v[0], upper+" ") {
					t.Errorf("first line %q does not start with %s", v[0], upper)
				}
				// Every subcommand gantry has, HELP included, has its line.
				for sub := range srv.cmds[name].subs {
					found := false
					for _, l := range v {
						found = found || strings.HasPrefix(l, strings.ToUpper(sub))
					}
					if !found {
						t.Errorf("%s HELP has no line for %s: %q", upper, strings.ToUpper(sub), v)
					}
				}
				if got := cli(name, "help"); got != strings.Join(v, "\n") {
					t.Errorf("redis-cli %s help printed\n%s\nwant\n%s", name, got, strings.Join(v, "\n"))
				}
			}
		})
	}
}
