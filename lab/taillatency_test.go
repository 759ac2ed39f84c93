package lab

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// smallTail is a tail-latency workload small enough for -race on a busy machine, with slow
// calls common enough that every run meets some.
func smallTail() tailConfig {
	c := tailConfigFor(true)
	c.fanouts = []int{1, 8}
	c.requests = []int{100, 60}
	c.concurrency = []int{2, 2}
	c.slowP = 0.02
	c.slow = 40 * time.Millisecond
	c.phaseLimit = 20 * time.Second
	c.total = time.Minute
	return c
}

func TestTailLatency(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := smallTail()
	tb, err := startTailBench(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var plain, hedged []*phase
	for k, n := range cfg.fanouts {
		pl, hd, err := tb.measure(ctx, n, cfg.concurrency[k], cfg.requests[k], time.Now().Add(cfg.phaseLimit))
		if err != nil {
			t.Fatal(err)
		}
		plain, hedged = append(plain, pl), append(hedged, hd)
	}
	tb.close()
	checkNoLeak(t, before)

	for i, n := range cfg.fanouts {
		pl, hd := plain[i], hedged[i]
		if pl.requests != int64(cfg.requests[i]) || hd.requests != int64(cfg.requests[i]) {
			t.Errorf("N=%d: measured %d and %d requests, want %d each", n, pl.requests, hd.requests, cfg.requests[i])
		}
		if got := pl.whole.Count(); got != pl.requests {
			t.Errorf("N=%d: histogram holds %d requests, counted %d", n, got, pl.requests)
		}
		if pl.sent != pl.requests*int64(n) || pl.hedges != 0 {
			t.Errorf("N=%d without hedging: %d calls and %d hedges, want %d and 0", n, pl.sent, pl.hedges, pl.requests*int64(n))
		}
		if pl.calls.Count() != pl.sent {
			t.Errorf("N=%d: %d call latencies for %d calls", n, pl.calls.Count(), pl.sent)
		}
		// Every call's latency is at least the backend's base delay.
		if min := pl.calls.Min(); min < cfg.base {
			t.Errorf("N=%d: fastest call %v, below the backend delay %v", n, min, cfg.base)
		}
		if hd.hedges > int64(cfg.hedgeBudget*float64(hd.sent-hd.hedges))+hedgeBurst+1 {
			t.Errorf("N=%d: %d hedges for %d calls, over the budget %v", n, hd.hedges, hd.sent-hd.hedges, cfg.hedgeBudget)
		}
		if hd.hedgeWins > hd.hedges {
			t.Errorf("N=%d: %d hedges won of %d", n, hd.hedgeWins, hd.hedges)
		}
	}
	// With 2% of 480 calls slow at N=8, some request waits for a slow call.
	last := len(cfg.fanouts) - 1
	if plain[last].slow == 0 || plain[last].whole.Max() < cfg.slow {
		t.Errorf("N=8: no request met a slow backend (max %v)", plain[last].whole.Max())
	}

	r, err := tailReport(cfg, plain, hedged)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.Tables[0].Rows); got != 2*len(cfg.fanouts) {
		t.Errorf("%d result rows, want %d", got, 2*len(cfg.fanouts))
	}
	text := strings.Join(r.Findings, "\n")
	for _, want := range []string{"p99 grows from", "at N=8", "extra backend calls"} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q:\n%s", want, text)
		}
	}
}

// TestTailLatencyCancel checks that the experiment stops, and stops its servers, when its
// context ends.
func TestTailLatencyCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cfg := smallTail()
	cfg.requests = []int{1e6, 1e6}
	cfg.phaseLimit = time.Minute
	cfg.total = time.Hour
	start := time.Now()
	_, err := runTail(ctx, Params{Logger: discard()}, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop after its context ended", d)
	}
	checkNoLeak(t, before)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestHedgedCall sends calls to a primary that is always slow and a replica that never is:
// the hedge must answer first, and the primary's server must see the call cancelled.
func TestHedgedCall(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := smallTail()
	cfg.fanouts = []int{1}
	cfg.slow = 2 * time.Second
	cfg.hedgeBudget = 1
	tb, err := startTailBench(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		tb.close()
		checkNoLeak(t, before)
	}()
	tb.primaries[0].slowP, tb.replicas[0].slowP = 1, 0

	c := newTally(1, 5*time.Millisecond, cfg.hedgeBudget)
	start := time.Now()
	if err := tb.hedged(context.Background(), 0, c); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= cfg.slow {
		t.Errorf("hedged call took %v: it waited for the slow primary", d)
	}
	if c.primaries.Load() != 1 || c.hedges.Load() != 1 || c.wins.Load() != 1 {
		t.Errorf("primaries %d, hedges %d, wins %d; want 1 each", c.primaries.Load(), c.hedges.Load(), c.wins.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for tb.primaries[0].cancelled.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the slow primary never saw its call cancelled")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// With no budget left, the call waits for the primary.
	cfg.slow = 100 * time.Millisecond
	tb.cfg.slow = cfg.slow
	c = newTally(1, 5*time.Millisecond, 0)
	start = time.Now()
	if err := tb.hedged(context.Background(), 0, c); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < cfg.slow {
		t.Errorf("call answered in %v, before the slow primary could", d)
	}
	if c.hedges.Load() != 0 || c.denied.Load() != 1 {
		t.Errorf("hedges %d, denied %d; want 0 and 1", c.hedges.Load(), c.denied.Load())
	}
}
