package proxy

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestConfigPathsRelativeToFile: every relative path in a configuration file (listener
// certificate and key, a pool's CA file and client certificate, a static directory) is
// taken from the file's directory, whatever the working directory; absolute paths stay.
func TestConfigPathsRelativeToFile(t *testing.T) {
	checkLeaks(t)
	ca := newTestCA(t) // writes ca.pem into ca.dir, next to the configuration below
	ca.issue("127.0.0.1", false)
	ca.issue("gantry-proxy", true)
	up, _ := tlsBackend(t, ca, ca.pool, whoami)
	if err := os.MkdirAll(filepath.Join(ca.dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ca.dir, "site", "a.txt"), []byte("from site/\n"), 0o644)
	conf := filepath.Join(ca.dir, "proxy.yaml")
	os.WriteFile(conf, []byte(`
tls:
  - {cert_file: 127.0.0.1.crt, key_file: ./127.0.0.1.key}
pools:
  - name: app
    hosts: [{addr: "https://`+up+`"}]
    tls: {ca_file: ca.pem, cert_file: gantry-proxy.client.crt, key_file: gantry-proxy.client.key}
routes:
  - {path_prefix: /files/, strip_prefix: /files, static: {dir: site}}
  - {pool: app}
`), 0o644)
	t.Chdir(t.TempDir()) // none of the names resolve from here

	cfg, err := LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cfg.TLS[0].CertFile, cfg.TLS[0].KeyFile, cfg.Pools[0].TLS.CAFile,
		cfg.Pools[0].TLS.CertFile, cfg.Pools[0].TLS.KeyFile, cfg.Routes[0].Static.Dir} {
		if filepath.Dir(p) != ca.dir {
			t.Errorf("%s: not in the configuration's directory %s", p, ca.dir)
		}
	}
	_, addr := start(t, cfg)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for path, want := range map[string]string{
		"/m":           "/m https HTTP/1.1 gantry-proxy", // the client certificate reached the backend
		"/files/a.txt": "from site/\n",
	} {
		if code, body, _ := get(t, c, "https://"+addr+path); code != 200 || body != want {
			t.Errorf("%s: %d %q, want 200 %q", path, code, body, want)
		}
	}

	// An absolute path is kept as written.
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("pools: [{name: a, hosts: [{addr: 'https://127.0.0.1:1'}], tls: {ca_file: '"+ca.file+"'}}]\n"), 0o644)
	if cfg, err = LoadConfig(other); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Pools[0].TLS.CAFile; got != ca.file {
		t.Errorf("absolute ca_file became %q, want %q", got, ca.file)
	}
}
