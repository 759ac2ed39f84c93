package lab

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIsolation(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := isoConfig{workers: 4, increments: 15, think: 50 * time.Microsecond}
	r, err := runIsolation(context.Background(), Params{Logger: discard()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, before)

	// The engine's documented behaviour (docs/store.md), level by level: the anomalies that
	// happen, and the error that stops the others.
	happens := map[string][]string{
		"read committed":  {"non-repeatable read", "phantom", "lost update", "read skew", "write skew"},
		"snapshot":        {"write skew"},
		"serializable":    nil,
		"snapshot + Lock": nil,
	}
	refusedWith := map[string]map[string]string{
		"snapshot":        {"lost update": "transaction conflict"},
		"serializable":    {"phantom": "transaction conflict", "lost update": "transaction conflict", "write skew": "transaction conflict"},
		"snapshot + Lock": {"lost update": "lock would deadlock", "write skew": "lock would deadlock"},
	}
	table := r.Tables[0]
	col := map[string]int{}
	for i, h := range table.Header {
		col[strings.TrimSuffix(h, " (reads for update)")] = i
	}
	for i, a := range anomalies() {
		row := table.Rows[i]
		if row[0] != a.name {
			t.Fatalf("row %d is %q, want %q", i, row[0], a.name)
		}
		for mode, names := range happens {
			if mode == lockMode().name && !a.locking {
				if row[col[mode]] != "-" {
					t.Errorf("%s has no locking variant but its cell says %q", a.name, row[col[mode]])
				}
				continue
			}
			want := slices.Contains(names, a.name)
			cell := row[col[mode]]
			if got := strings.HasPrefix(cell, "**happens**"); got != want {
				t.Errorf("%s under %s: %q, want happens = %v", a.name, mode, cell, want)
			}
			if e, ok := refusedWith[mode][a.name]; ok && (!strings.HasPrefix(cell, "prevented: ") || !strings.Contains(cell, e)) {
				t.Errorf("%s under %s: %q, want it prevented with %q", a.name, mode, cell, e)
			}
		}
	}

	// Contention: every transaction accounted for; only read committed may lose updates.
	ct := r.Tables[2]
	if len(ct.Rows) != 4 {
		t.Fatalf("%d contention rows", len(ct.Rows))
	}
	for _, row := range ct.Rows {
		n := func(i int) int { return atoi(t, row[i]) }
		attempts, committed, refused, final, lost := n(1), n(2), n(3)+n(4)+n(5), n(6), n(7)
		if attempts != cfg.workers*cfg.increments || committed+refused != attempts || final+lost != committed || final < 1 {
			t.Errorf("%s: %d attempts, %d committed, %d refused, counter %d, %d lost", row[0], attempts, committed, refused, final, lost)
		}
		if row[0] != "read committed" && lost != 0 {
			t.Errorf("%s lost %d updates", row[0], lost)
		}
		if row[0] == "read committed" && refused != 0 {
			t.Errorf("read committed refused %d transactions: it does not validate", refused)
		}
	}
	text := strings.Join(r.Findings, "\n")
	for _, want := range []string{
		"Under read committed, non-repeatable read, phantom, lost update, read skew and write skew happened; dirty read did not.",
		"That is what PostgreSQL's READ COMMITTED allows, row for row.",
		"Under snapshot, write skew happened;",
		"Under serializable, no anomaly happened.",
		"stopped the write skew (T2's Lock: store: lock would deadlock",
		"under snapshot T1 read the same count twice and committed a count the table no longer matched",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q:\n%s", want, text)
		}
	}
}

// TestIsolationFindingsFollowOutcomes changes outcomes and checks that the sentences
// change with them.
func TestIsolationFindingsFollowOutcomes(t *testing.T) {
	res := isoResult{outcomes: map[string]map[string]outcome{}}
	for _, a := range anomalies() {
		res.outcomes[a.name] = map[string]outcome{}
		for li, m := range isoLevels() {
			res.outcomes[a.name][m.name] = outcome{happened: a.postgres[li] == allowed, seen: "x"}
		}
	}
	res.contention = []contentionResult{{mode: "read committed", attempts: 10, committed: 10, final: 7}}
	text := strings.Join(isoFindings(res), "\n")
	if strings.Count(text, "row for row") != 3 || !strings.Contains(text, "3 increments lost") {
		t.Fatalf("outcomes equal to PostgreSQL's:\n%s", text)
	}
	res.outcomes["write skew"]["serializable"] = outcome{happened: true, seen: "x"}
	res.outcomes["dirty read"]["read committed"] = outcome{happened: true, seen: "x"}
	text = strings.Join(isoFindings(res), "\n")
	for _, want := range []string{
		"Against PostgreSQL's SERIALIZABLE (serializable snapshot isolation): 5 of 6 rows agree; write skew (happens here but PostgreSQL prevents it).",
		"It falls short of SQL-92 SERIALIZABLE, which forbids write skew.",
		"It falls short of SQL-92 READ COMMITTED, which forbids dirty read.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q:\n%s", want, text)
		}
	}
}

func TestIsolationCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runIsolation(ctx, Params{Logger: discard()}, isoConfigFor(true))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
