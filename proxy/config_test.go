package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	const pool = "pools:\n  - name: a\n    hosts: [{addr: 127.0.0.1:1}]\n"
	for _, tt := range []struct {
		yaml, err string
	}{
		{"", "empty configuration"},
		{"pools: []\n", "pools: none defined"},
		{pool + "    polcy: x\n", "line 4: field polcy is unknown; allowed: name, policy, hash_key, sticky_cookie, hosts,"},
		{"bogus: 1\n" + pool, "line 1: field bogus is unknown; allowed: pools, routes,"},
		{pool + "    policy: random\n", `pools[0].policy: "random" is unknown; allowed round_robin,`},
		{pool + "    policy: ring_hash\n    hash_key: ip\n", `pools[0].hash_key: "ip" is not allowed; allowed client_ip, header:NAME, cookie:NAME`},
		{pool + "    hash_key: header:X\n", `pools[0].hash_key: set, but policy weighted_round_robin does not hash`},
		{"pools:\n  - hosts: [{addr: 127.0.0.1:1}]\n", "pools[0].name: missing"},
		{"pools:\n  - name: a\n", "pools[0].hosts: none"},
		{"pools:\n  - name: a\n    hosts: [{addr: nohost}]\n", `pools[0].hosts[0].addr: "nohost" is not host:port`},
		{"pools:\n  - name: a\n    hosts: [{addr: 'ftp://x:1'}]\n", "unsupported scheme"},
		{"pools:\n  - name: a\n    hosts: [{addr: 'http://x:1/path'}]\n", "has a path"},
		{"pools:\n  - name: a\n    hosts: [{addr: 'x:1', weight: -2}]\n", "hosts[0].weight: -2 is out of range; allowed 1 to 1000"},
		{"pools:\n  - name: a\n    hosts: [{addr: 'x:1', backup: true}]\n", "pools[0].hosts: all are backups"},
		{pool + pool[7:], `pools[1].name: "a" is used twice`},
		{pool + "    retry_budget: 2\n", "pools[0].retry_budget: 2 is out of range"},
		{pool + "    retries: 11\n", "pools[0].retries: 11 is out of range"},
		{pool + "    sticky_cookie: 'a b'\n", `pools[0].sticky_cookie: "a b" is not a cookie name`},
		{pool + "    health_check: {path: health}\n", `pools[0].health_check.path: "health" does not start with /`},
		{pool + "    health_check: {path: /h, interval: 1ms}\n", "pools[0].health_check.interval: 1ms is too short"},
		{pool + "    health_check: {path: /h, pth: 1}\n", "field pth is unknown; allowed: path, interval,"},
		{pool + "    idle_timeout: -1s\n", "pools[0].idle_timeout: -1s is negative"},
		{pool + "    dial_timeout: soon\n", "cannot unmarshal"},
		{"max_header_bytes: 10\n" + pool, "max_header_bytes: 10 is out of range"},
		{"via: 'a b'\n" + pool, `via: "a b" is not a token`},
		{pool + "routes:\n  - pool: b\n", `routes[0].pool: "b" is not a defined pool`},
		{pool + "routes:\n  - redirect: ftp://x\n", `routes[0].redirect: "ftp://x" is not allowed; allowed https`},
		{pool + "routes:\n  - redirect: https\n    pool: a\n", "routes[0].redirect: set together with pool"},
		{pool + "routes:\n  - redirect: https\n    redirect_code: 200\n", "routes[0].redirect_code: 200 is not allowed"},
		{pool + "routes:\n  - path: x\n    pool: a\n", `routes[0].path: "x" does not start with /`},
		{pool + "routes:\n  - path: /x\n    path_prefix: /y\n    pool: a\n", "routes[0].path: set together with path_prefix"},
		{pool + "routes:\n  - host: 'a.*.com'\n    pool: a\n", `routes[0].host: "a.*.com" is not a host name`},
		{pool + "routes:\n  - methods: ['G T']\n    pool: a\n", `routes[0].methods[0]: "G T" is not a method token`},
		{pool + "routes:\n  - pool: a\n    hots: x\n", "field hots is unknown; allowed: host, path,"},
		{pool + "routes:\n  - pool: a\n    strip_prefix: api\n", `routes[0].strip_prefix: "api" does not start with /`},
		{pool + "routes:\n  - pool: a\n    add_prefix: '/a b'\n", `routes[0].add_prefix: "/a b" has a byte not allowed`},
		{pool + "routes:\n  - pool: a\n    request_headers: {set: {Content-Length: '1'}}\n", `routes[0].request_headers.set: "Content-Length" is managed by the proxy`},
		{pool + "routes:\n  - pool: a\n    response_headers: {remove: ['a b']}\n", `routes[0].response_headers.remove: "a b" is not a header name`},
		{pool + "routes:\n  - pool: a\n    response_headers: {sett: {}}\n", "field sett is unknown; allowed: set, remove"},
		{pool + "  - name: b\n    hosts: [{addr: 127.0.0.1:2}]\n", "routes: none defined, but there are several pools"},
	} {
		_, err := ParseConfig([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("config:\n%s\nerror = %v\nwant it to contain %q", tt.yaml, err, tt.err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("pools:\n  - name: a\n    hosts: [{addr: 'http://127.0.0.1'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0]
	if p.Hosts[0].Addr != "127.0.0.1:80" || p.Hosts[0].Weight != 1 || p.Policy != "weighted_round_robin" ||
		p.Retries != 2 || p.RetryBudget != 0.2 || p.MaxIdlePerHost != 64 || cfg.MaxHeaderBytes != 16<<10 {
		t.Errorf("defaults: %+v %+v", cfg, p)
	}
}

func TestLoadConfigNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(path, []byte("pools: []\n"), 0o644)
	if _, err := LoadConfig(path); err == nil || !strings.HasPrefix(err.Error(), path+": pools:") {
		t.Errorf("error = %v, want it to start with the file name", err)
	}
}

// TestExamplesLoad loads every example configuration shipped in examples/proxy.
func TestExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("../examples/proxy/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		cfg, err := LoadConfig(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(cfg.TLS) > 0 {
			continue // its certificate files are the user's to make
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: New: %v", f, err)
		}
	}
}

func FuzzConfig(f *testing.F) {
	files, _ := filepath.Glob("../examples/proxy/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("pools: [{name: a, hosts: [{addr: 'x:1'}]}]\nroutes: [{pool: a, host: '*.x'}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		cfg.TLS, cfg.PlainAddr = nil, "" // certificate files are not the parser's concern (plain_addr needs tls)
		if _, err := New(cfg); err != nil {
			t.Fatalf("a valid configuration failed New: %v", err)
		}
	})
}

func TestConnectAllowValidation(t *testing.T) {
	const pool = "pools:\n  - name: a\n    hosts: [{addr: 127.0.0.1:1}]\n"
	for _, bad := range []string{"host", "host:", "a b:1", "*:443", "h:abc"} {
		_, err := ParseConfig([]byte("connect_allow: ['" + bad + "']\n" + pool))
		if err == nil || !strings.Contains(err.Error(), "connect_allow[0]") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := ParseConfig([]byte("connect_allow: ['*.example.com:443', 'h:*']\n" + pool)); err != nil {
		t.Error(err)
	}
}
