package proxy

import (
	"context"
	"net/http"
	"time"
)

// HealthCheck is a pool's active health check: every Interval each host is asked for
// Path; an answer below 400 within Timeout is a pass. UnhealthyAfter failures in a row take
// a host out of rotation and HealthyAfter passes in a row bring it back. Hosts start
// healthy, so that a proxy starting beside its hosts serves at once.
type HealthCheck struct {
	Path           string        `yaml:"path"`
	Interval       time.Duration `yaml:"interval"`        // default 5s
	Timeout        time.Duration `yaml:"timeout"`         // default 2s
	HealthyAfter   int           `yaml:"healthy_after"`   // default 2
	UnhealthyAfter int           `yaml:"unhealthy_after"` // default 3
}

func (h *HealthCheck) validate() error {
	if h.Path == "" || h.Path[0] != '/' {
		return errorf("path: %q does not start with /", h.Path)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"interval", &h.Interval, 5 * time.Second}, {"timeout", &h.Timeout, 2 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 10*time.Millisecond {
			return errorf("%s: %v is too short; allowed 10ms or more", d.name, *d.v)
		}
	}
	if h.HealthyAfter == 0 {
		h.HealthyAfter = 2
	}
	if h.UnhealthyAfter == 0 {
		h.UnhealthyAfter = 3
	}
	if h.HealthyAfter < 1 || h.UnhealthyAfter < 1 || h.HealthyAfter > 100 || h.UnhealthyAfter > 100 {
		return errorf("healthy_after and unhealthy_after: allowed 1 to 100")
	}
	return nil
}

// checkHealth probes the pool's hosts until done closes.
func (p *pool) checkHealth(done <-chan struct{}) {
	defer p.srv.wg.Done()
	hc := p.cfg.HealthCheck
	tr := p.healthTransport(hc.Timeout)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // cancel probes in flight when the proxy stops
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(hc.Interval)
	defer t.Stop()
	for {
		for _, u := range p.all {
			u.probe(ctx, client, hc)
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// probe asks one host for the health path and updates its state.
func (u *upstream) probe(ctx context.Context, client *http.Client, hc *HealthCheck) {
	ok := false
	req, err := http.NewRequestWithContext(ctx, "GET", u.healthURL(hc.Path), nil)
	if err == nil {
		req.Header.Set("User-Agent", "gantry-health-check")
		if resp, err := u.healthDo(client, req); err == nil {
			resp.Body.Close()
			ok = resp.StatusCode < 400
		}
	}
	if ctx.Err() != nil {
		return
	}
	if ok {
		u.checkFails = 0
		u.checkPasses++
		if u.unhealthy.Load() && u.checkPasses >= hc.HealthyAfter {
			u.unhealthy.Store(false)
			u.pool.srv.log.Info("proxy: upstream healthy", "pool", u.pool.name, "host", u.addr)
		}
		return
	}
	u.checkPasses = 0
	u.checkFails++
	if !u.unhealthy.Load() && u.checkFails >= hc.UnhealthyAfter {
		u.unhealthy.Store(true)
		u.pool.srv.log.Warn("proxy: upstream unhealthy", "pool", u.pool.name, "host", u.addr)
	}
}
