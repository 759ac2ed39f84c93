package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// UpstreamTLS is how a pool talks TLS to its hosts. A pool uses TLS when it has this block
// or when its hosts are written as https:// URLs; then every host of the pool does.
type UpstreamTLS struct {
	// CAFile is a PEM file of the authorities that sign the hosts' certificates. Empty
	// (the default): the system's roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name sent as SNI and checked in each host's certificate. Empty
	// (the default): the host part of each host's address.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate a host shows. Off by default; it turns
	// TLS into encryption without authentication, for tests and nothing else.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// CertFile and KeyFile are a client certificate and its key (PEM), shown to hosts that
	// ask for one (mutual TLS). Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Upstream protocols (PoolConfig.Protocol).
const (
	protoHTTP1 = "http1"
	protoH2    = "h2"
)

// validateTransport checks a pool's upstream protocol and TLS settings and turns https://
// host URLs into host:port with the pool's TLS on. It runs before the hosts' addresses are
// checked, and again on an already validated pool (Validate may run twice).
func (p *PoolConfig) validateTransport() error {
	switch p.Protocol {
	case "":
		p.Protocol = protoHTTP1
	case protoHTTP1, protoH2:
	default:
		return fmt.Errorf("protocol: %q is unknown; allowed http1 (the default) or h2 (HTTP/2: h2c, or h2 over TLS with tls or https:// hosts)", p.Protocol)
	}
	plain := -1 // index of a host written as http://
	for i := range p.Hosts {
		h := &p.Hosts[i]
		rest, ok := strings.CutPrefix(h.Addr, "https://")
		if !ok {
			if strings.HasPrefix(h.Addr, "http://") {
				plain = i
			}
			continue
		}
		rest = strings.TrimSuffix(rest, "/")
		if strings.ContainsAny(rest, "/?#@") {
			return fmt.Errorf("hosts[%d].addr: %q has a path, query or user; allowed https://host:port", i, h.Addr)
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), "443")
		}
		h.Addr = rest
		if p.TLS == nil {
			p.TLS = &UpstreamTLS{}
		}
	}
	if p.TLS == nil {
		return nil
	}
	if plain >= 0 {
		return fmt.Errorf("hosts[%d].addr: %q is plain HTTP in a pool that uses TLS; a pool speaks one protocol to all its hosts", plain, p.Hosts[plain].Addr)
	}
	if _, err := p.TLS.config(); err != nil {
		return fmt.Errorf("tls.%w", err)
	}
	return nil
}

// config builds the client TLS configuration of a pool (without a server name) and checks
// its files.
func (t *UpstreamTLS) config() (*tls.Config, error) {
	if t.InsecureSkipVerify && t.CAFile != "" {
		return nil, errors.New("insecure_skip_verify: set together with ca_file; verify against the CA or skip verification, not both")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("cert_file: cert_file and key_file go together (a client certificate and its key)")
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
		// Resumed sessions skip the certificate exchange when a pool dials again.
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// setupTransport prepares what the pool's hosts need to connect: a TLS configuration per
// host (its own server name) and, for an h2 pool, an HTTP/2 transport per host.
func (p *pool) setupTransport() error {
	if p.cfg.TLS != nil {
		base, err := p.cfg.TLS.config()
		if err != nil {
			return fmt.Errorf("tls.%w", err)
		}
		base.NextProtos = []string{"http/1.1"}
		if p.cfg.Protocol == protoH2 {
			base.NextProtos = []string{"h2"}
		}
		for _, u := range p.all {
			u.tls = base.Clone()
			if u.tls.ServerName == "" {
				u.tls.ServerName, _, _ = net.SplitHostPort(u.addr)
			}
		}
	}
	if p.cfg.Protocol == protoH2 {
		for _, u := range p.all {
			u.h2 = newH2Client(u)
		}
	}
	return nil
}

// dialConn connects to the host: TCP, then the TLS handshake when the pool uses TLS, all
// within the pool's dial timeout.
func (u *upstream) dialConn(ctx context.Context) (net.Conn, error) {
	timeout := u.pool.cfg.DialTimeout
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if u.tls == nil {
		return c, nil
	}
	tc := tls.Client(c, u.tls)
	c.SetDeadline(time.Now().Add(timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", u.addr, err)
	}
	c.SetDeadline(time.Time{})
	return tc, nil
}

// healthTransport is the transport of a pool's HTTP/1.1 health checks: a fresh connection
// per probe, TLS as the pool does it.
func (p *pool) healthTransport(timeout time.Duration) *http.Transport {
	tr := &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: timeout}
	tr.DialTLSContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		for _, u := range p.all {
			if u.addr == addr {
				return u.dialConn(ctx)
			}
		}
		return nil, fmt.Errorf("no host %s in pool %s", addr, p.name)
	}
	return tr
}

// healthURL is the URL a health check asks the host for.
func (u *upstream) healthURL(path string) string {
	if u.tls != nil {
		return "https://" + u.addr + path
	}
	return "http://" + u.addr + path
}
