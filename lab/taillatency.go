package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"gantry/lab/chart"
	"gantry/stats"
)

// tailLatency measures what "The Tail at Scale" (Dean and Barroso, 2013) describes: a
// request that waits for N backends is as slow as the slowest, so a backend's rare slow
// answer becomes the request's common case as N grows; and hedged requests, a copy sent to
// another replica once a call is slower than usual, take most of it back for a few percent
// more calls. The front end runs in this process; the backends are real HTTP servers on
// loopback, spoken to over HTTP/2 so that cancelling the losing copy resets a stream rather
// than closing a connection.
func tailLatency() Experiment {
	return Experiment{
		Name:    "tail-latency",
		Summary: "p99 of a request fanned out to N HTTP backends, with and without hedged requests",
		Topics:  []string{"tail-latency"},
		Run: func(ctx context.Context, p Params) (*Report, error) {
			return runTail(ctx, p, tailConfigFor(p.Quick))
		},
	}
}

// tailConfig sizes the tail-latency experiment.
type tailConfig struct {
	fanouts     []int         // N: backends each request waits for
	requests    []int         // whole requests measured per N and mode
	concurrency []int         // whole requests in flight per N
	base        time.Duration // a backend answers after base + uniform[0, jitter]
	jitter      time.Duration
	slowP       float64       // ... or, with this probability, after slow
	slow        time.Duration //
	hedgeBudget float64       // at most this many hedges per primary call
	phaseLimit  time.Duration // one mode at one N stops after about this long
	total       time.Duration // ... or sooner, to share what is left of this among the Ns to come
}

func tailConfigFor(quick bool) tailConfig {
	c := tailConfig{
		fanouts:     []int{1, 10, 100},
		requests:    []int{20000, 5000, 2000},
		concurrency: []int{4, 4, 2}, // N=100 × 2 in flight already keeps 2 cores busy
		base:        time.Millisecond,
		jitter:      500 * time.Microsecond,
		slowP:       0.01,
		slow:        50 * time.Millisecond,
		hedgeBudget: 0.1,
		phaseLimit:  20 * time.Second,
		total:       150 * time.Second,
	}
	if quick {
		c.requests = []int{1000, 300, 150}
		c.phaseLimit = 2 * time.Second
		c.total = 7 * time.Second
	}
	return c
}

// backend is one HTTP server that answers after a random delay.
type backend struct {
	cfg       *tailConfig
	slowP     float64 // the share of slow answers, cfg.slowP unless a test sets it
	srv       *http.Server
	url       string
	cancelled atomic.Int64 // requests abandoned by the front end before the answer
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := b.cfg.base + rand.N(b.cfg.jitter+1)
	if rand.Float64() < b.slowP {
		d = b.cfg.slow
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		io.WriteString(w, "ok\n")
	case <-r.Context().Done(): // the front end took another replica's answer
		b.cancelled.Add(1)
	}
}

// tailBench is the front end and its backends: primaries[i] and replicas[i] serve shard i.
type tailBench struct {
	cfg                 tailConfig
	primaries, replicas []*backend
	client              *http.Client
	transport           *http.Transport
	dials               atomic.Int64
	servers             sync.WaitGroup
}

func (c tailConfig) maxN() int {
	n := 0
	for _, f := range c.fanouts {
		n = max(n, f)
	}
	return n
}

func startTailBench(cfg tailConfig) (*tailBench, error) {
	maxN := cfg.maxN()
	tb := &tailBench{cfg: cfg}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	// One HTTP/2 connection per backend carries every call to it, opened by warm before
	// measuring, so that the experiment measures the backends' tail and not dialling. The
	// dialer counts connections, so that the report can show none were opened later.
	tb.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			tb.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		IdleConnTimeout:    time.Minute,
		DisableCompression: true,
		Protocols:          h2c(),
	}
	tb.client = &http.Client{Transport: tb.transport}
	for i := 0; i < 2*maxN; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.close()
			return nil, err
		}
		b := &backend{cfg: &tb.cfg, slowP: cfg.slowP, url: "http://" + ln.Addr().String() + "/"}
		b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second, Protocols: h2c()}
		tb.servers.Go(func() { b.srv.Serve(ln) })
		if i < maxN {
			tb.primaries = append(tb.primaries, b)
		} else {
			tb.replicas = append(tb.replicas, b)
		}
	}
	return tb, nil
}

// h2c selects HTTP/2 without TLS (prior knowledge): calls share one connection per
// backend, and cancelling a call resets its stream instead of closing the connection.
func h2c() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

func (tb *tailBench) close() {
	for _, b := range append(tb.primaries, tb.replicas...) {
		b.srv.Close()
	}
	tb.servers.Wait()
	tb.transport.CloseIdleConnections()
}

// warm calls the first n primaries and replicas once each, so that the measured runs find
// their connections open.
func (tb *tailBench) warm(ctx context.Context, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, b := range append(tb.primaries[:n:n], tb.replicas[:n]...) {
		g.Go(func() error { return tb.call(ctx, b) })
	}
	return g.Wait()
}

// call makes one backend request and returns when its answer is read.
func (tb *tailBench) call(ctx context.Context, b *backend) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return err
	}
	resp, err := tb.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend %s: %s", b.url, resp.Status)
	}
	return nil
}

// phase is what one mode (plain or hedged) measured at one N.
type phase struct {
	n          int
	hedgeAfter time.Duration // 0: no hedging
	whole      stats.Snapshot
	calls      stats.Snapshot // primary calls' latency (plain mode)
	requests   int64          // whole requests measured
	slow       int64          // whole requests that took at least the slow delay
	sent       int64          // backend requests sent, hedges included
	hedges     int64          // of which hedges
	hedgeWins  int64          // hedges that answered first
	denied     int64          // hedges the budget did not allow
	dials      int64          // connections opened
}

// extra is the load hedging added, as a share of the calls a plain run makes.
func (p *phase) extra() float64 {
	return float64(p.hedges) / float64(p.sent-p.hedges)
}

// A tally accumulates one mode's measurements at one N over the blocks it runs in. Its
// counters are shared by the goroutines of a block.
type tally struct {
	n            int
	hedgeAfter   time.Duration // 0: no hedging
	budget       float64       // hedges allowed per primary call
	whole, calls *stats.Histogram

	requests, slow, dials           atomic.Int64
	primaries, hedges, wins, denied atomic.Int64
}

func newTally(n int, hedgeAfter time.Duration, budget float64) *tally {
	return &tally{n: n, hedgeAfter: hedgeAfter, budget: budget, whole: stats.NewHistogram(), calls: stats.NewHistogram()}
}

// phase returns what t measured.
func (t *tally) phase() *phase {
	return &phase{
		n: t.n, hedgeAfter: t.hedgeAfter,
		whole: t.whole.Snapshot(), calls: t.calls.Snapshot(),
		requests: t.requests.Load(), slow: t.slow.Load(),
		sent:   t.primaries.Load() + t.hedges.Load(),
		hedges: t.hedges.Load(), hedgeWins: t.wins.Load(), denied: t.denied.Load(),
		dials: t.dials.Load(),
	}
}

// hedgeBurst is how many hedges the budget allows before the calls have earned them, so that
// the first slow calls of a run are hedged too.
const hedgeBurst = 10

// allowHedge reports whether one more hedge stays within the budget, and counts it if so.
// Without a budget, hedges beget load that slows calls past the hedge delay, which begets
// more hedges: the budget breaks that loop.
func (t *tally) allowHedge() bool {
	if float64(t.hedges.Load()+1) > t.budget*float64(t.primaries.Load())+hedgeBurst*min(t.budget, 1) {
		t.denied.Add(1)
		return false
	}
	t.hedges.Add(1)
	return true
}

// run adds count whole requests of fan-out t.n to t, hedged if t.hedgeAfter is above 0, with
// concurrency of them in flight. It stops early at deadline (after at least one request per
// worker) or when ctx ends.
func (tb *tailBench) run(ctx context.Context, t *tally, concurrency, count int, deadline time.Time) error {
	var next atomic.Int64
	dials := tb.dials.Load()
	g, gctx := errgroup.WithContext(ctx)
	for range concurrency {
		g.Go(func() error {
			// Each worker makes at least one request, so that a mode that starts after its
			// deadline (on a machine that ran slow) still has a figure.
			for done := 0; next.Add(1) <= int64(count) && (done == 0 || time.Now().Before(deadline)) && gctx.Err() == nil; done++ {
				t0 := time.Now()
				fan, fctx := errgroup.WithContext(gctx)
				for i := range t.n {
					fan.Go(func() error {
						if t.hedgeAfter > 0 {
							return tb.hedged(fctx, i, t)
						}
						c0 := time.Now()
						t.primaries.Add(1)
						err := tb.call(fctx, tb.primaries[i])
						t.calls.Record(time.Since(c0))
						return err
					})
				}
				if err := fan.Wait(); err != nil {
					return err
				}
				d := time.Since(t0)
				t.whole.Record(d)
				t.requests.Add(1)
				if d >= tb.cfg.slow {
					t.slow.Add(1)
				}
			}
			return nil
		})
	}
	err := g.Wait()
	t.dials.Add(tb.dials.Load() - dials)
	if err != nil {
		return err
	}
	return ctx.Err()
}

// hedged calls shard i's primary and, if it has not answered after t.hedgeAfter and the
// budget allows, its replica too. The first answer wins; the other call is cancelled and
// waited for.
func (tb *tailBench) hedged(ctx context.Context, i int, t *tally) error {
	type result struct {
		hedge bool
		err   error
	}
	results := make(chan result, 2)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // the losing copy
		wg.Wait()
	}()
	launch := func(b *backend, hedge bool) {
		wg.Go(func() { results <- result{hedge, tb.call(ctx, b)} })
	}
	t.primaries.Add(1)
	launch(tb.primaries[i], false)
	timer := time.NewTimer(t.hedgeAfter)
	defer timer.Stop()
	select {
	case r := <-results:
		return r.err
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !t.allowHedge() {
		return (<-results).err
	}
	launch(tb.replicas[i], true)
	r := <-results
	if r.err != nil { // one copy failed: the other may still answer
		r = <-results
	}
	if r.hedge && r.err == nil {
		t.wins.Add(1)
	}
	return r.err
}

func runTail(ctx context.Context, p Params, cfg tailConfig) (*Report, error) {
	tb, err := startTailBench(cfg)
	if err != nil {
		return nil, err
	}
	defer tb.close()
	var plain, hedged []*phase
	end := time.Now().Add(cfg.total)
	for k, n := range cfg.fanouts {
		// Each N gets a share of the time left that grows with its cost (1 + log10 N: a
		// fan-out to 100 takes the CPU longer than one to 1), at most two phase limits.
		weight := func(n int) float64 { return 1 + math.Log10(float64(n)) }
		rest := 0.0
		for _, m := range cfg.fanouts[k:] {
			rest += weight(m)
		}
		share := time.Duration(float64(time.Until(end)) * weight(n) / rest)
		deadline := time.Now().Add(min(2*cfg.phaseLimit, share))
		pl, hd, err := tb.measure(ctx, n, cfg.concurrency[k], cfg.requests[k], deadline)
		if err != nil {
			return nil, fmt.Errorf("fan-out %d: %w", n, err)
		}
		p.Logger.Info("tail-latency", "n", n, "requests", pl.requests, "p99", pl.whole.Quantile(0.99),
			"hedge_after", hd.hedgeAfter, "hedged_p99", hd.whole.Quantile(0.99), "extra", hd.extra())
		plain, hedged = append(plain, pl), append(hedged, hd)
	}
	return tailReport(cfg, plain, hedged)
}

// measure runs count whole requests of fan-out n without hedging and count with, until
// deadline. The first fifth of the plain requests (or as many as a quarter of the time
// allows) sets the first hedge delay, the p95 of their single calls; then the two modes take
// turns in blocks of a tenth, so that both meet whatever else the machine is doing at the
// time, and the hedge delay follows the plain calls' p95 as it accumulates.
func (tb *tailBench) measure(ctx context.Context, n, concurrency, count int, deadline time.Time) (plain, hedged *phase, err error) {
	if err := tb.warm(ctx, n); err != nil {
		return nil, nil, fmt.Errorf("warm-up: %w", err)
	}
	pl := newTally(n, 0, 0)
	calibrated := time.Now().Add(time.Until(deadline) / 4) // leave time for both modes
	if err := tb.run(ctx, pl, concurrency, max(count/5, 1), calibrated); err != nil {
		return nil, nil, err
	}
	hd := newTally(n, pl.calls.Snapshot().Quantile(0.95), tb.cfg.hedgeBudget)
	block := int64(max(count/10, 1))
	left := func(t *tally) int { return int(min(block, int64(count)-t.requests.Load())) }
	for left(hd) > 0 || left(pl) > 0 {
		// The hedge delay follows the p95 of all single calls without hedging so far, as a
		// front end tracks its backends' recent latency: one bad moment during the first
		// fifth does not set it for the whole run.
		hd.hedgeAfter = pl.calls.Snapshot().Quantile(0.95)
		// At least one turn each, even past the deadline.
		if err := tb.run(ctx, hd, concurrency, left(hd), deadline); err != nil {
			return nil, nil, err
		}
		if err := tb.run(ctx, pl, concurrency, left(pl), deadline); err != nil {
			return nil, nil, err
		}
		if !time.Now().Before(deadline) {
			break
		}
	}
	if pl.requests.Load() == 0 || hd.requests.Load() == 0 {
		return nil, nil, errors.New("no request finished in the time allowed")
	}
	return pl.phase(), hd.phase(), nil
}

func tailReport(cfg tailConfig, plain, hedged []*phase) (*Report, error) {
	r := &Report{
		Title: "Tail latency under fan-out, and hedged requests",
		Question: "A request that fans out to N backends is as slow as the slowest of them. How does the whole " +
			"request's p99 grow with N when each backend is slow once in a while, and how much of that do hedged " +
			"requests (a second copy to another replica after the p95) win back, at what extra load?",
		Params: []Param{
			{"fan-out N", joinInts(cfg.fanouts)},
			{"whole requests per N and mode (at most)", joinInts(cfg.requests)},
			{"whole requests in flight per N", joinInts(cfg.concurrency)},
			{"backend delay", fmt.Sprintf("%s + uniform [0, %s]", cfg.base, cfg.jitter)},
			{"slow backend calls", fmt.Sprintf("%.3g%% of calls take %s", 100*cfg.slowP, cfg.slow)},
			{"hedge delay", "p95 of the single backend calls made so far without hedging at the same N (first from the first fifth of the requests, then updated before each block)"},
			{"order", "after that first fifth, the two modes take turns in blocks of a tenth of the requests"},
			{"hedge budget", fmt.Sprintf("at most %.3g hedges per 100 calls, plus %d to start with", 100*cfg.hedgeBudget, hedgeBurst)},
			{"time limit", fmt.Sprintf("%s per N (both modes), %s in all", 2*cfg.phaseLimit, cfg.total)},
			{"backends", fmt.Sprintf("%d net/http servers on 127.0.0.1 (a primary and a replica per shard), HTTP/2 without TLS", 2*cfg.maxN())},
		},
		Notes: []string{
			"The front end runs in the experiment's process and calls the backends with one net/http client over HTTP/2 " +
				"without TLS (one connection per backend, opened in a warm-up round before measuring; \"new conns\" counts any opened later).",
			"Cancelling the losing copy of a hedged call resets its HTTP/2 stream; the backend sees the cancellation and stops. " +
				"Over HTTP/1.1 the client would have to close the connection instead, and open a new one for the next call.",
			"\"Denied\" counts hedges the budget refused: when calls slow down for a reason every replica shares (a busy CPU), " +
				"copies would only add load, and the budget stops them feeding on themselves.",
			"Load generator, front end and backends share the machine's cores; at N=100 the fan-out itself queues on them, " +
				"which shows in the p50. Figures move between runs on a shared machine.",
		},
	}
	t := Table{Header: []string{"N", "hedging", "requests", "p50", "p99", "p99.9", "max", "requests ≥ slow delay", "hedge after (last)", "backend calls", "extra calls", "hedges won", "new conns"}}
	var xs []float64
	series := map[string][]float64{}
	for i := range plain {
		xs = append(xs, float64(plain[i].n))
		for _, ph := range []*phase{plain[i], hedged[i]} {
			mode, after, extra, won := "no", "-", "-", "-"
			if ph.hedgeAfter > 0 {
				mode, after = "after p95", ms(ph.hedgeAfter)
				extra = pct(ph.extra())
				won = strconv.FormatInt(ph.hedgeWins, 10) + " of " + strconv.FormatInt(ph.hedges, 10)
				if ph.denied > 0 {
					won += fmt.Sprintf(" (%d denied)", ph.denied)
				}
			}
			t.Rows = append(t.Rows, []string{
				strconv.Itoa(ph.n), mode, strconv.FormatInt(ph.requests, 10),
				ms(ph.whole.Quantile(0.5)), ms(ph.whole.Quantile(0.99)), ms(ph.whole.Quantile(0.999)), ms(ph.whole.Max()),
				pct(float64(ph.slow) / float64(ph.requests)), after, strconv.FormatInt(ph.sent, 10), extra, won,
				strconv.FormatInt(ph.dials, 10),
			})
		}
		for _, q := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p99", 0.99}, {"p99.9", 0.999}} {
			series[q.name] = append(series[q.name], msf(plain[i].whole.Quantile(q.q)))
			series[q.name+" hedged"] = append(series[q.name+" hedged"], msf(hedged[i].whole.Quantile(q.q)))
		}
		series["extra"] = append(series["extra"], 100*hedged[i].extra())
	}
	r.Tables = append(r.Tables, t)

	line := &chart.Line{
		Title:  "Whole-request latency vs fan-out",
		XLabel: "fan-out N (backends per request)", YLabel: "latency (ms)",
		XLog: true, YLog: true,
		Refs: []chart.Ref{{Value: msf(cfg.slow), Label: "a slow backend call"}},
	}
	for i, name := range []string{"p50", "p99", "p99.9"} {
		line.Series = append(line.Series, chart.Series{Name: name, X: xs, Y: series[name], Color: chart.Color(i)})
	}
	for i, name := range []string{"p50 hedged", "p99 hedged", "p99.9 hedged"} {
		line.Series = append(line.Series, chart.Series{Name: name, X: xs, Y: series[name], Color: chart.Color(i), Dashed: true})
	}
	svg, err := line.SVG()
	if err != nil {
		return nil, err
	}
	r.Charts = append(r.Charts, Chart{File: "latency.svg", Caption: "p50, p99 and p99.9 of the whole request against N, with and without hedging", SVG: svg})

	var cats []string
	for _, n := range cfg.fanouts {
		cats = append(cats, "N="+strconv.Itoa(n))
	}
	bars := &chart.Bars{
		Title: "p99 with and without hedging", XLabel: "fan-out", YLabel: "p99 latency (ms)",
		Categories: cats,
		Series:     []chart.BarSeries{{Name: "no hedging", Values: series["p99"]}, {Name: "hedged after p95", Values: series["p99 hedged"]}},
	}
	if svg, err = bars.SVG(); err != nil {
		return nil, err
	}
	r.Charts = append(r.Charts, Chart{File: "p99.svg", Caption: "p99 of the whole request per N, with and without hedging", SVG: svg})
	cost := &chart.Bars{
		Title: "The cost of hedging", XLabel: "fan-out", YLabel: "extra backend calls (%)",
		Categories: cats, Series: []chart.BarSeries{{Name: "", Values: series["extra"]}},
	}
	if svg, err = cost.SVG(); err != nil {
		return nil, err
	}
	r.Charts = append(r.Charts, Chart{File: "cost.svg", Caption: "extra backend calls that hedging sends, as a share of the calls without it", SVG: svg})

	r.Findings = tailFindings(cfg, plain, hedged)
	return r, nil
}

// tailFindings explains the measured numbers in a few sentences.
func tailFindings(cfg tailConfig, plain, hedged []*phase) []string {
	first, last := plain[0], plain[len(plain)-1]
	hfirst, hlast := hedged[0], hedged[len(hedged)-1]
	q := func(p *phase, x float64) time.Duration { return p.whole.Quantile(x) }
	var out []string

	s := fmt.Sprintf("Without hedging, the whole request's p99 grows from %s at N=%d to %s at N=%d, and its p50 from %s to %s. ",
		ms(q(first, 0.99)), first.n, ms(q(last, 0.99)), last.n, ms(q(first, 0.5)), ms(q(last, 0.5)))
	s += fmt.Sprintf("A request waits for its slowest backend: with %.3g%% of calls slow, the chance that at least one of N calls is slow is 1−(1−p)^N, ",
		100*cfg.slowP)
	var parts []string
	for _, p := range plain {
		parts = append(parts, fmt.Sprintf("%s at N=%d (measured: %s of requests took %s or more)",
			pct(1-math.Pow(1-cfg.slowP, float64(p.n))), p.n, pct(float64(p.slow)/float64(p.requests)), cfg.slow))
	}
	s += joinList(parts) + "."
	if q(last, 0.5) >= cfg.slow*9/10 {
		s += fmt.Sprintf(" At N=%d the slow delay is no longer the tail: even the median request pays it.", last.n)
	}
	out = append(out, s)

	s = fmt.Sprintf("Hedging sends a second copy of a backend call to the shard's replica once the call has run longer than the p95 of single calls "+
		"(%s at N=%d, %s at N=%d); the first answer wins and the other copy is cancelled. ", ms(hfirst.hedgeAfter), hfirst.n, ms(hlast.hedgeAfter), hlast.n)
	for i := range plain {
		p, h := plain[i], hedged[i]
		b, a := q(p, 0.99), q(h, 0.99)
		verb := "cuts"
		switch {
		case a > b:
			verb = "raises"
		case b-a < b/10:
			verb = "barely changes"
		}
		s += fmt.Sprintf("At N=%d it %s the p99 from %s to %s and the p99.9 from %s to %s, at a cost of %s extra backend calls. ",
			p.n, verb, ms(b), ms(a), ms(q(p, 0.999)), ms(q(h, 0.999)), pct(h.extra()))
	}
	out = append(out, s)

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, h := range hedged {
		lo, hi = math.Min(lo, 100*h.extra()), math.Max(hi, 100*h.extra())
	}
	out = append(out, fmt.Sprintf("Hedging cost between %.1f%% and %.1f%% extra backend calls. A copy is sent only for a call that has run longer "+
		"than the p95 measured without hedging, so about 5%% is expected; more where the copies' own load slows the calls down. "+
		"The hedge delay itself grows with N (from %s to %s) although the backends are the same: a fan-out to %d backends "+
		"costs the front end CPU, and the calls queue on the machine's %d cores.",
		lo, hi, ms(hfirst.hedgeAfter), ms(hlast.hedgeAfter), hlast.n, runtime.NumCPU()))
	for _, h := range hedged {
		if h.denied > h.hedges {
			out = append(out, fmt.Sprintf("At N=%d the budget refused %d hedges and allowed %d: far more than 5%% of calls ran past the "+
				"hedge delay, so the slowness was not one backend's bad luck but something every copy shares, such as a busy CPU, "+
				"and more copies would only have added to it.", h.n, h.denied, h.hedges))
		}
	}
	for i := range plain {
		if n := min(plain[i].requests, hedged[i].requests); n < 1000 {
			out = append(out, fmt.Sprintf("At N=%d only %d requests were measured in one of the modes (the phase's time ran out first), "+
				"so its p99.9 is close to the maximum and one unlucky request moves it.", plain[i].n, n))
			break
		}
	}
	return out
}

// ms formats a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	return strconv.FormatFloat(msf(d), 'g', 3, 64) + " ms"
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct formats a ratio as a percentage.
func pct(x float64) string {
	return strconv.FormatFloat(100*x, 'f', 1, 64) + "%"
}

func joinInts(xs []int) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(x)
	}
	return s
}

// joinList joins parts as an English list: "a, b and c".
func joinList(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	s := ""
	for _, p := range parts[:len(parts)-1] {
		if s != "" {
			s += ", "
		}
		s += p
	}
	return s + " and " + parts[len(parts)-1]
}
