package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of a proxy. Zero values mean the documented defaults.
type Config struct {
	// Pools are the upstream pools routes send requests to.
	Pools []PoolConfig `yaml:"pools"`
	// Routes are tried in order; the first that matches a request takes it. With no
	// routes and exactly one pool, every request goes to that pool.
	Routes []Route `yaml:"routes"`

	// MaxHeaderBytes bounds a request head (and an upstream's response head); a larger
	// request is answered 431. Default 16 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds a request body; a larger one is answered 413. Default 64 MiB;
	// -1 means no limit.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// HeaderTimeout bounds the time from a request's first byte to the end of its head
	// (slowloris protection); a late head is answered 408. Default 10s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// IdleTimeout closes a client connection that sends no new request for this long.
	// Default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// BodyTimeout bounds the silence between two reads of a request body. Default 60s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxInFlight sheds load: a request that arrives while this many are being served is
	// answered 503 with Retry-After at once, so that overload queues nowhere. Default
	// 10000; -1 means no limit.
	MaxInFlight int `yaml:"max_in_flight"`
	// AccessLog logs every request (remote, method, target, status, upstream, duration)
	// at level info on Log. Off by default: it costs a log line per request.
	AccessLog bool `yaml:"access_log"`
	// Via is the pseudonym this proxy adds to Via (RFC 9110 section 7.6.3) and
	// recognises there to detect loops. Default "gantry-" and a random hex number, which
	// is unique per process; set the same name on replicas that must never chain.
	Via string `yaml:"via"`

	// ConnectAllow lists the destinations CONNECT may tunnel to (forward proxy mode), as
	// host:port with host exact or "*.example.com" and port a number or "*". Empty (the
	// default) refuses every CONNECT with 403.
	ConnectAllow []string `yaml:"connect_allow"`
	// ForwardAllow lists the destinations of forward proxy mode, in the same form:
	// absolute-form requests ("GET http://host/path", as clients configured with an HTTP
	// proxy send) to a listed host:port (port 80 when the URL has none) are sent there, to
	// any other refused with 403. CONNECT tunnels share the list. Empty (the default) with
	// an empty connect_allow: no forward proxying; absolute-form requests are routed
	// like any other.
	ForwardAllow []string `yaml:"forward_allow"`

	// TLS makes the listener terminate TLS (1.2 and 1.3) with these certificates, the
	// one for a connection chosen by SNI; ALPN offers h2 and http/1.1.
	TLS []CertConfig `yaml:"tls"`
	// PlainAddr, with tls, adds a plain listener (HTTP/1.x and h2c) at this host:port
	// beside the TLS one, in the same process. Usually with https_redirect.
	PlainAddr string `yaml:"plain_addr"`
	// HTTPSRedirect answers every request that arrives without TLS with 308 to the same
	// host and target over HTTPS, whatever the routes; requests for
	// /.well-known/acme-challenge/ are still routed, so that certificates can be renewed.
	HTTPSRedirect bool `yaml:"https_redirect"`
	// HTTPSPort is the port written in redirects to HTTPS (also those of redirect: https
	// routes). Default: the TLS listener's port when this process has one, else none
	// (443).
	HTTPSPort int `yaml:"https_port"`

	// EventLoops is how many event loops serve plain HTTP/1.1 client connections (Linux;
	// see "The HTTP/1.1 event loop" in docs/proxy.md), at most 64. 0 (the default) means
	// one for every core; -1 none: every connection has a goroutine of its own.
	EventLoops int `yaml:"event_loops"`

	// Log receives errors and events; nil discards them.
	Log *slog.Logger `yaml:"-"`
}

// CertConfig is one certificate and its key, as PEM files.
type CertConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// loadTLS builds the listener's TLS configuration.
func loadTLS(certs []CertConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	for i, c := range certs {
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls[%d]: %w", i, err)
		}
		tc.Certificates = append(tc.Certificates, pair)
	}
	return tc, nil
}

// PoolConfig is one upstream pool.
type PoolConfig struct {
	Name string `yaml:"name"`
	// Policy is round_robin, weighted_round_robin (the default: nginx's smooth
	// weighted round robin), least_conn (weighted; best for long-lived streams) or
	// two_choices (power of two random choices, weighted).
	// ring_hash (consistent hashing with weighted virtual nodes) and maglev (Google's
	// Maglev table; weights ignored) send each request by its HashKey, so that the same
	// client, user or session keeps reaching the same host while hosts come and go.
	Policy string `yaml:"policy"`
	// HashKey is what ring_hash and maglev hash: client_ip (the default), header:NAME or
	// cookie:NAME. A request without the header or cookie is balanced by weighted round
	// robin.
	HashKey string `yaml:"hash_key"`
	// StickyCookie names a cookie the proxy sets to pin a client to the host that served
	// it (sticky sessions): while that host is usable, requests carrying the cookie go
	// there whatever the policy; when it is not, the policy picks again and the cookie is
	// replaced. Empty (the default): no sticky sessions.
	StickyCookie string       `yaml:"sticky_cookie"`
	Hosts        []HostConfig `yaml:"hosts"`

	// Protocol is what the proxy speaks to the hosts: http1 (the default) or h2. TLS
	// makes the connections TLS (also turned on by https:// host addresses).
	Protocol string       `yaml:"protocol"`
	TLS      *UpstreamTLS `yaml:"tls"`

	// MaxIdlePerHost bounds the keep-alive connections kept to each host. Default 64.
	MaxIdlePerHost int `yaml:"max_idle_per_host"`
	// IdleTimeout closes a keep-alive connection unused for this long. Default 30s; keep
	// it below the upstream's own idle timeout.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// DialTimeout bounds connecting to a host. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds the silence between two reads from a host, response head
	// included. Default 60s; a route that long-polls sets a longer one. -1: none.
	ReadTimeout time.Duration `yaml:"read_timeout"`

	// MaxRequestsPerHost is a circuit breaker: a host with this many requests in flight
	// takes no more, and when every host is full the request is answered 503 at once
	// rather than queued. 0 (the default) means no limit.
	MaxRequestsPerHost int `yaml:"max_requests_per_host"`

	// Retries is how many more hosts a failed request may try. Default 2; -1: none.
	// A request is retried only when that is safe: the connection to the host failed
	// before the request was sent, or the method is idempotent and the request has no body.
	Retries int `yaml:"retries"`
	// RetryBudget caps retries at this share of requests over time. Default 0.2.
	RetryBudget float64 `yaml:"retry_budget"`
	// RetryBackoff and RetryBackoffMax space retries out: the n-th retry waits a random
	// time between half and all of RetryBackoff×2^(n-1), capped at RetryBackoffMax.
	// Defaults 25ms and 250ms; RetryBackoff -1: retries go at once.
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`

	// EjectAfter consecutive failures (connection errors, timeouts, 5xx answers) eject
	// a host for EjectBase, doubled for each ejection in a row up to 32×; never more
	// than MaxEjectPercent of the pool is ejected. Defaults 5, 10s, 50. EjectAfter -1
	// turns ejection off.
	// HealthCheck turns on active health checks for the pool's hosts.
	HealthCheck *HealthCheck `yaml:"health_check"`

	EjectAfter      int           `yaml:"eject_after"`
	EjectBase       time.Duration `yaml:"eject_base"`
	MaxEjectPercent int           `yaml:"max_eject_percent"`
}

// HostConfig is one upstream host.
type HostConfig struct {
	// Addr is host:port, or an http:// or https:// URL (https: the pool uses TLS).
	Addr string `yaml:"addr"`
	// Weight is the host's share relative to the others. Default 1.
	Weight int `yaml:"weight"`
	// Backup hosts take traffic only when no primary host is usable.
	Backup bool `yaml:"backup"`
}

// Route sends the requests it matches to a pool. Every condition set must hold.
type Route struct {
	// Host matches the request's host without port: "example.com" exactly, or
	// "*.example.com" for any subdomain (not example.com itself). "" matches any.
	Host string `yaml:"host"`
	// Path matches the request path exactly; PathPrefix matches a path that starts with
	// it. At most one of them.
	Path       string `yaml:"path"`
	PathPrefix string `yaml:"path_prefix"`
	// Methods lists the methods matched; empty matches any.
	Methods []string `yaml:"methods"`
	// Headers maps a header name to the exact value it must have.
	Headers map[string]string `yaml:"headers"`
	// Pool names the pool that serves the route.
	Pool string `yaml:"pool"`

	// Redirect answers the route's requests with a redirect instead of proxying them:
	// "https" sends the client to the same host and target over HTTPS (the HTTP→HTTPS
	// redirect); a URL prefix such as https://new.example.com sends it there with the
	// request's target appended. RedirectCode is 308 (the default), 301, 302, 303 or 307.
	Redirect     string `yaml:"redirect"`
	RedirectCode int    `yaml:"redirect_code"`
	// Static serves the route's requests from files in a directory (see StaticConfig)
	// instead of proxying them.
	Static *StaticConfig `yaml:"static"`

	// StripPrefix is removed from the start of the path sent upstream, then AddPrefix is
	// put in front: strip_prefix /api with add_prefix /v2 sends /api/users as /v2/users.
	StripPrefix string `yaml:"strip_prefix"`
	AddPrefix   string `yaml:"add_prefix"`
	// ReadTimeout overrides the pool's read_timeout for this route: a long-poll route
	// sets a long one, an API route a short one. -1 means none.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// Timeout bounds the whole exchange up to the upstream's response head, every retry
	// and backoff wait included; past it the client gets 504. The body then streams
	// under read_timeout. 0 (the default): no total bound.
	Timeout time.Duration `yaml:"timeout"`
	// RequestHeaders and ResponseHeaders edit the fields passed on.
	RequestHeaders  HeaderRules `yaml:"request_headers"`
	ResponseHeaders HeaderRules `yaml:"response_headers"`
}

// HeaderRules edit a message's header fields: Remove drops fields by name, Set replaces
// (or adds) fields.
type HeaderRules struct {
	Set    map[string]string `yaml:"set"`
	Remove []string          `yaml:"remove"`
}

func (h HeaderRules) validate() error {
	for _, n := range h.Remove {
		if !isToken([]byte(n)) {
			return fmt.Errorf("remove: %q is not a header name", n)
		}
	}
	for n, v := range h.Set {
		if !isToken([]byte(n)) {
			return fmt.Errorf("set: %q is not a header name", n)
		}
		if isFraming(n) {
			return fmt.Errorf("set: %q is managed by the proxy and cannot be set", n)
		}
		if !validFieldValue(v) {
			return fmt.Errorf("set: the value of %q has a control byte", n)
		}
	}
	return nil
}

// isFraming reports the fields a route may not set, because the proxy writes them to
// frame the message or manage the connection.
func isFraming(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection", "host", "upgrade", "te", "trailer", "keep-alive":
		return true
	}
	return false
}

// LoadConfig reads a YAML configuration file strictly (an unknown field is an error) and
// validates it. Errors name the file and the field.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := parseConfig(data, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes and validates a YAML configuration.
func ParseConfig(data []byte) (Config, error) {
	return parseConfig(data, "")
}

// parseConfig decodes and validates a YAML configuration; relative paths in it (static
// directories, certificates, keys, CA files) are taken relative to base (the
// configuration file's directory).
func parseConfig(data []byte, base string) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("empty configuration")
		}
		return Config{}, explainYAML(err)
	}
	cfg.resolvePaths(base)
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// resolvePaths makes every relative file or directory name in the configuration relative
// to base rather than to the working directory, so that a configuration means the same
// wherever gantry is started from (and on reload). base "" leaves them as they are.
func (cfg *Config) resolvePaths(base string) {
	if base == "" {
		return
	}
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range cfg.TLS {
		rel(&cfg.TLS[i].CertFile)
		rel(&cfg.TLS[i].KeyFile)
	}
	for i := range cfg.Pools {
		if t := cfg.Pools[i].TLS; t != nil {
			rel(&t.CAFile)
			rel(&t.CertFile)
			rel(&t.KeyFile)
		}
	}
	for _, r := range cfg.Routes {
		if r.Static != nil {
			rel(&r.Static.Dir)
		}
	}
}

// explainYAML adds the allowed field names to yaml's "field x not found in type T".
func explainYAML(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	types := map[string]reflect.Type{
		"proxy.Config":       reflect.TypeFor[Config](),
		"proxy.PoolConfig":   reflect.TypeFor[PoolConfig](),
		"proxy.HostConfig":   reflect.TypeFor[HostConfig](),
		"proxy.Route":        reflect.TypeFor[Route](),
		"proxy.CertConfig":   reflect.TypeFor[CertConfig](),
		"proxy.HealthCheck":  reflect.TypeFor[HealthCheck](),
		"proxy.HeaderRules":  reflect.TypeFor[HeaderRules](),
		"proxy.StaticConfig": reflect.TypeFor[StaticConfig](),
		"proxy.UpstreamTLS":  reflect.TypeFor[UpstreamTLS](),
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		before, typ, ok := strings.Cut(m, " not found in type ")
		if rt := types[typ]; ok && rt != nil {
			var names []string
			for j := 0; j < rt.NumField(); j++ {
				if tag := rt.Field(j).Tag.Get("yaml"); tag != "" && tag != "-" {
					names = append(names, tag)
				}
			}
			msgs[i] = fmt.Sprintf("%s is unknown; allowed: %s", before, strings.Join(names, ", "))
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// defaultEventLoops is what EventLoops 0 becomes: 0, one loop per core. The
// package's tests can run every test with another default (-event-loops,
// loop_linux_test.go), -1 to check the goroutine path alone.
var defaultEventLoops = 0

// Validate checks the configuration and fills in defaults. Errors name the field path.
func (c *Config) Validate() error {
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		return fmt.Errorf("max_header_bytes: %d is out of range; allowed 1024 to 1048576", c.MaxHeaderBytes)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 20
	}
	if c.MaxBodyBytes < -1 {
		return fmt.Errorf("max_body_bytes: %d is negative; allowed -1 (no limit) or a byte count", c.MaxBodyBytes)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"header_timeout", &c.HeaderTimeout, 10 * time.Second},
		{"idle_timeout", &c.IdleTimeout, 60 * time.Second},
		{"body_timeout", &c.BodyTimeout, 60 * time.Second},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return fmt.Errorf("%s: %v is negative; allowed a positive duration such as 10s", d.name, *d.v)
		}
	}
	switch {
	case c.MaxInFlight == 0:
		c.MaxInFlight = 10000
	case c.MaxInFlight < -1:
		return fmt.Errorf("max_in_flight: %d is negative; allowed -1 (no limit) or a count", c.MaxInFlight)
	}
	if c.EventLoops == 0 {
		c.EventLoops = defaultEventLoops
	}
	if c.EventLoops < -1 || c.EventLoops > 64 {
		return fmt.Errorf("event_loops: %d is out of range; allowed -1 (none), 0 (one per core) to 64", c.EventLoops)
	}
	if c.Via != "" && !isToken([]byte(c.Via)) {
		return fmt.Errorf("via: %q is not a token; allowed letters, digits and !#$%%&'*+-.^_`|~", c.Via)
	}
	for _, list := range []struct {
		name string
		v    []string
	}{{"connect_allow", c.ConnectAllow}, {"forward_allow", c.ForwardAllow}} {
		for i, a := range list.v {
			h, p, ok := strings.Cut(a, ":")
			hb := []byte(strings.TrimPrefix(h, "*."))
			if !ok || !validHost(hb) || strings.ContainsAny(string(hb), ":*") || (p != "*" && !isPort(p)) {
				return fmt.Errorf("%s[%d]: %q is not host:port; allowed example.com:443, *.example.com:443 or example.com:*", list.name, i, a)
			}
		}
	}
	for i, t := range c.TLS {
		if t.CertFile == "" || t.KeyFile == "" {
			return fmt.Errorf("tls[%d]: cert_file and key_file are both required", i)
		}
	}
	if c.PlainAddr != "" {
		if len(c.TLS) == 0 {
			return errors.New("plain_addr: set without tls; the main listener is plain already")
		}
		if h, p, err := net.SplitHostPort(c.PlainAddr); err != nil || !isPort(p) || strings.ContainsAny(h, " /") {
			return fmt.Errorf("plain_addr: %q is not host:port; allowed e.g. 127.0.0.1:8080 or :80", c.PlainAddr)
		}
	}
	if c.HTTPSPort < 0 || c.HTTPSPort > 65535 {
		return fmt.Errorf("https_port: %d is out of range; allowed 1 to 65535", c.HTTPSPort)
	}
	if len(c.Pools) == 0 && len(c.Routes) == 0 && len(c.ForwardAllow) == 0 {
		return errors.New("pools: none defined; at least one pool with hosts is required (or routes that redirect or serve static files, or forward_allow)")
	}
	names := make(map[string]bool)
	for i := range c.Pools {
		p := &c.Pools[i]
		if err := p.validate(); err != nil {
			return fmt.Errorf("pools[%d].%w", i, err)
		}
		if names[p.Name] {
			return fmt.Errorf("pools[%d].name: %q is used twice; pool names must be unique", i, p.Name)
		}
		names[p.Name] = true
	}
	if len(c.Routes) == 0 && len(c.Pools) > 1 {
		return errors.New("routes: none defined, but there are several pools; add routes that name them")
	}
	for i := range c.Routes {
		if err := c.Routes[i].validate(names); err != nil {
			return fmt.Errorf("routes[%d].%w", i, err)
		}
	}
	return nil
}

func (p *PoolConfig) validate() error {
	if p.Name == "" {
		return errors.New("name: missing; every pool needs a name")
	}
	switch p.Policy {
	case "":
		p.Policy = "weighted_round_robin"
	case "round_robin", "weighted_round_robin", "least_conn", "two_choices", "ring_hash", "maglev":
	default:
		return fmt.Errorf("policy: %q is unknown; allowed round_robin, weighted_round_robin, least_conn, two_choices, ring_hash, maglev", p.Policy)
	}
	if _, ok := parseHashKey(p.HashKey); !ok {
		return fmt.Errorf("hash_key: %q is not allowed; allowed client_ip, header:NAME, cookie:NAME", p.HashKey)
	}
	if p.HashKey != "" && p.Policy != "ring_hash" && p.Policy != "maglev" {
		return fmt.Errorf("hash_key: set, but policy %s does not hash; use ring_hash or maglev", p.Policy)
	}
	if len(p.Hosts) == 0 {
		return errors.New("hosts: none; a pool needs at least one host")
	}
	if err := p.validateTransport(); err != nil {
		return err
	}
	primaries := 0
	for i := range p.Hosts {
		h := &p.Hosts[i]
		addr, err := hostAddr(h.Addr)
		if err != nil {
			return fmt.Errorf("hosts[%d].addr: %w", i, err)
		}
		h.Addr = addr
		if h.Weight == 0 {
			h.Weight = 1
		}
		if h.Weight < 1 || h.Weight > 1000 {
			return fmt.Errorf("hosts[%d].weight: %d is out of range; allowed 1 to 1000", i, h.Weight)
		}
		if !h.Backup {
			primaries++
		}
	}
	if primaries == 0 {
		return errors.New("hosts: all are backups; at least one must be a primary")
	}
	if p.MaxIdlePerHost == 0 {
		p.MaxIdlePerHost = 64
	}
	if p.MaxIdlePerHost < 0 || p.MaxIdlePerHost > 10000 {
		return fmt.Errorf("max_idle_per_host: %d is out of range; allowed 1 to 10000", p.MaxIdlePerHost)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"idle_timeout", &p.IdleTimeout, 30 * time.Second},
		{"dial_timeout", &p.DialTimeout, 5 * time.Second},
		{"read_timeout", &p.ReadTimeout, 60 * time.Second},
		{"eject_base", &p.EjectBase, 10 * time.Second},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 && !(d.name == "read_timeout" && *d.v == -1) {
			return fmt.Errorf("%s: %v is negative; allowed a positive duration such as 10s", d.name, *d.v)
		}
	}
	if p.ReadTimeout < 0 {
		p.ReadTimeout = 0
	}
	switch {
	case p.Retries == 0:
		p.Retries = 2
	case p.Retries == -1:
		p.Retries = 0
	case p.Retries < 0 || p.Retries > 10:
		return fmt.Errorf("retries: %d is out of range; allowed -1 (none) to 10", p.Retries)
	}
	if p.HealthCheck != nil {
		if err := p.HealthCheck.validate(); err != nil {
			return fmt.Errorf("health_check.%w", err)
		}
	}
	if p.StickyCookie != "" && !isToken([]byte(p.StickyCookie)) {
		return fmt.Errorf("sticky_cookie: %q is not a cookie name (a token)", p.StickyCookie)
	}
	if p.MaxRequestsPerHost < 0 {
		return fmt.Errorf("max_requests_per_host: %d is negative; allowed 0 (no limit) or a count", p.MaxRequestsPerHost)
	}
	if p.RetryBudget == 0 {
		p.RetryBudget = 0.2
	}
	switch {
	case p.RetryBackoff == 0:
		p.RetryBackoff = 25 * time.Millisecond
	case p.RetryBackoff < -1 || p.RetryBackoff > 10*time.Second:
		return fmt.Errorf("retry_backoff: %v is out of range; allowed -1 (none) or up to 10s", p.RetryBackoff)
	}
	switch {
	case p.RetryBackoffMax == 0:
		p.RetryBackoffMax = max(250*time.Millisecond, p.RetryBackoff)
	case p.RetryBackoffMax < p.RetryBackoff || p.RetryBackoffMax > 30*time.Second:
		return fmt.Errorf("retry_backoff_max: %v is out of range; allowed retry_backoff (%v) to 30s", p.RetryBackoffMax, p.RetryBackoff)
	}
	if p.RetryBudget < 0 || p.RetryBudget > 1 {
		return fmt.Errorf("retry_budget: %v is out of range; allowed 0 to 1 (a share of requests)", p.RetryBudget)
	}
	if p.EjectAfter == 0 {
		p.EjectAfter = 5
	}
	if p.EjectAfter < -1 {
		return fmt.Errorf("eject_after: %d is out of range; allowed -1 (off) or a count", p.EjectAfter)
	}
	if p.MaxEjectPercent == 0 {
		p.MaxEjectPercent = 50
	}
	if p.MaxEjectPercent < 0 || p.MaxEjectPercent > 100 {
		return fmt.Errorf("max_eject_percent: %d is out of range; allowed 1 to 100", p.MaxEjectPercent)
	}
	return nil
}

// hostAddr turns "host:port" or "http://host[:port][/]" into host:port.
func hostAddr(s string) (string, error) {
	if rest, ok := strings.CutPrefix(s, "http://"); ok {
		rest = strings.TrimSuffix(rest, "/")
		if strings.ContainsAny(rest, "/?#@") {
			return "", fmt.Errorf("%q has a path, query or user; allowed http://host:port", s)
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), "80")
		}
		s = rest
	} else if strings.Contains(s, "://") {
		return "", fmt.Errorf("%q has an unsupported scheme; allowed host:port, http://host:port or https://host:port", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("%q is not host:port; allowed host:port or http://host:port", s)
	}
	return s, nil
}

func (r *Route) validate(pools map[string]bool) error {
	if r.Redirect != "" {
		if r.Pool != "" || r.Static != nil {
			return errors.New("redirect: set together with pool or static; a route either redirects, serves files or proxies")
		}
		if r.Redirect != "https" && !strings.HasPrefix(r.Redirect, "https://") && !strings.HasPrefix(r.Redirect, "http://") {
			return fmt.Errorf("redirect: %q is not allowed; allowed https (same host and path over HTTPS) or a URL prefix http(s)://host[/path]", r.Redirect)
		}
		for _, c := range []byte(r.Redirect) {
			if c <= ' ' || c == 0x7f || c == '?' || c == '#' {
				return fmt.Errorf("redirect: %q has a byte not allowed in a URL prefix", r.Redirect)
			}
		}
		switch r.RedirectCode {
		case 0:
			r.RedirectCode = 308
		case 301, 302, 303, 307, 308:
		default:
			return fmt.Errorf("redirect_code: %d is not allowed; allowed 301, 302, 303, 307, 308", r.RedirectCode)
		}
		return nil
	}
	if r.Static != nil {
		if r.Pool != "" {
			return errors.New("static: set together with pool; a route either serves files or proxies")
		}
		if err := r.Static.validate(); err != nil {
			return fmt.Errorf("static.%w", err)
		}
	} else if r.Pool == "" {
		return errors.New("pool: missing; a route names the pool that serves it (or redirects, or has static)")
	} else if !pools[r.Pool] {
		return fmt.Errorf("pool: %q is not a defined pool", r.Pool)
	}
	if r.Path != "" && r.PathPrefix != "" {
		return errors.New("path: set together with path_prefix; allowed one of them")
	}
	for _, p := range []struct{ name, v string }{{"path", r.Path}, {"path_prefix", r.PathPrefix}} {
		if p.v != "" && p.v[0] != '/' {
			return fmt.Errorf("%s: %q does not start with /", p.name, p.v)
		}
	}
	if r.Host != "" {
		h := strings.TrimPrefix(r.Host, "*.")
		if strings.Contains(h, "*") || !validHost([]byte(h)) || strings.Contains(h, ":") {
			return fmt.Errorf("host: %q is not a host name; allowed example.com or *.example.com, without port", r.Host)
		}
		r.Host = strings.ToLower(r.Host)
	}
	for i, m := range r.Methods {
		if !isToken([]byte(m)) {
			return fmt.Errorf("methods[%d]: %q is not a method token", i, m)
		}
	}
	for name := range r.Headers {
		if !isToken([]byte(name)) {
			return fmt.Errorf("headers: %q is not a header name", name)
		}
	}
	for _, p := range []struct{ name, v string }{{"strip_prefix", r.StripPrefix}, {"add_prefix", r.AddPrefix}} {
		if p.v == "" {
			continue
		}
		if p.v[0] != '/' {
			return fmt.Errorf("%s: %q does not start with /", p.name, p.v)
		}
		for _, c := range []byte(p.v) {
			if c <= ' ' || c == 0x7f || c == '?' || c == '#' {
				return fmt.Errorf("%s: %q has a byte not allowed in a path", p.name, p.v)
			}
		}
	}
	if r.Timeout < 0 {
		return fmt.Errorf("timeout: %v is negative; allowed a positive duration such as 5s, or 0 for none", r.Timeout)
	}
	if r.ReadTimeout < 0 && r.ReadTimeout != -1 {
		return fmt.Errorf("read_timeout: %v is negative; allowed a positive duration, or -1 for none", r.ReadTimeout)
	}
	if err := r.RequestHeaders.validate(); err != nil {
		return fmt.Errorf("request_headers.%w", err)
	}
	if err := r.ResponseHeaders.validate(); err != nil {
		return fmt.Errorf("response_headers.%w", err)
	}
	return nil
}

func isPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
