package lab

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gantry/lab/chart"
)

// refLevels names the reference levels each of the engine's levels is compared with, in
// the order of isoLevels: the standard's and PostgreSQL's.
func refLevels() [3]struct{ standard, postgres string } {
	return [3]struct{ standard, postgres string }{
		{"READ COMMITTED", "READ COMMITTED"},
		{"REPEATABLE READ", "REPEATABLE READ (snapshot isolation)"},
		{"SERIALIZABLE", "SERIALIZABLE (serializable snapshot isolation)"},
	}
}

// cell describes an outcome in a table cell.
func (o outcome) cell() string {
	switch {
	case o.happened:
		return "**happens**: " + o.seen
	case o.refusal != "":
		return "prevented: " + o.refusal
	}
	return "does not happen: " + o.seen
}

func isoReport(cfg isoConfig, res isoResult) (*Report, error) {
	as := anomalies()
	r := &Report{
		Title: "Isolation levels: which anomalies happen",
		Question: "Which of the classic concurrency anomalies (dirty read, non-repeatable read, phantom, lost update, read skew, " +
			"write skew) does each isolation level of the store engine let through, what does the engine return when it " +
			"prevents one, and how does that compare with what the SQL standard and PostgreSQL say each level allows?",
		Params: []Param{
			{"engine", "store, one database (NoSync: durability is not measured here), a fresh bucket per scenario"},
			{"levels", "read committed, snapshot (the default), serializable; and snapshot with Bucket.Lock (read for update) where the interleaving reads to write"},
			{"scenarios", "two transactions, T1 begun before T2, in a fixed interleaving on one goroutine; each runs once per level (it is deterministic)"},
			{"contention", fmt.Sprintf("%d goroutines × %d transactions, each reads counter n (Get, or Lock), waits %v, writes n+1 and commits; no retries", cfg.workers, cfg.increments, cfg.think)},
		},
		Notes: []string{
			"The interleavings are fixed, so each cell is what the engine does every time; the contention counts depend on timing and change from run to run.",
			"The reference columns are what the sources say, not measurements: SQL-92 defines its levels by three phenomena only (dirty read, non-repeatable read, phantom); lost update, read skew and write skew were named later (Berenson et al., \"A Critique of ANSI SQL Isolation Levels\", 1995), and SERIALIZABLE excludes them because it must equal some serial order. PostgreSQL's columns follow its manual (Transaction Isolation): its READ UNCOMMITTED behaves as READ COMMITTED, and its REPEATABLE READ is snapshot isolation, stronger than the standard asks (no phantoms).",
			"PostgreSQL's lost update under plain UPDATE ... SET n = n + 1 does not happen even in READ COMMITTED (the update re-reads the row); the row here is the application's read-then-write, which loses the update there as here.",
		},
	}

	header := []string{"anomaly", "interleaving"}
	for _, m := range isoLevels() {
		header = append(header, m.name)
	}
	header = append(header, lockMode().name+" (reads for update)")
	t := Table{Caption: "What happened on the engine.", Header: header}
	for _, a := range as {
		row := []string{a.name, a.shape}
		for _, m := range isoLevels() {
			row = append(row, res.outcomes[a.name][m.name].cell())
		}
		if o, ok := res.outcomes[a.name][lockMode().name]; ok {
			row = append(row, o.cell())
		} else {
			row = append(row, "-")
		}
		t.Rows = append(t.Rows, row)
	}
	r.Tables = append(r.Tables, t)

	ref := Table{Caption: "What the SQL standard (SQL-92) and PostgreSQL allow.", Header: []string{"anomaly"}}
	for _, l := range refLevels() {
		ref.Header = append(ref.Header, "SQL-92 "+l.standard)
	}
	for _, l := range refLevels() {
		ref.Header = append(ref.Header, "PostgreSQL "+l.postgres)
	}
	for _, a := range as {
		row := []string{a.name}
		for _, x := range a.standard {
			row = append(row, string(x))
		}
		for _, x := range a.postgres {
			row = append(row, string(x))
		}
		ref.Rows = append(ref.Rows, row)
	}
	r.Tables = append(r.Tables, ref)

	ct := Table{Caption: fmt.Sprintf("%d goroutines incrementing one counter, %d transactions each, no retries.", cfg.workers, cfg.increments),
		Header: []string{"mode", "transactions", "committed", "refused: conflict", "refused: deadlock (wait-die)", "refused: lock timeout", "counter at the end", "increments lost", "elapsed"}}
	var cats []string
	var counted, lost, refused []float64
	for _, c := range res.contention {
		ct.Rows = append(ct.Rows, []string{c.mode, strconv.Itoa(c.attempts), strconv.Itoa(c.committed), strconv.Itoa(c.conflicts),
			strconv.Itoa(c.deadlocks), strconv.Itoa(c.timeouts), strconv.Itoa(c.final), strconv.Itoa(c.lost()), c.elapsed.Round(time.Millisecond).String()})
		cats = append(cats, c.mode)
		counted, lost, refused = append(counted, float64(c.final)), append(lost, float64(c.lost())), append(refused, float64(c.refused()))
	}
	r.Tables = append(r.Tables, ct)
	bars := chart.Bars{Title: "A contended counter under each mode", XLabel: "mode", YLabel: "transactions",
		Categories: cats, Series: []chart.BarSeries{
			{Name: "committed and counted", Values: counted},
			{Name: "committed but lost", Values: lost},
			{Name: "refused", Values: refused},
		}}
	svg, err := bars.SVG()
	if err != nil {
		return nil, err
	}
	r.Charts = append(r.Charts, Chart{File: "contention.svg",
		Caption: fmt.Sprintf("%d read-modify-write transactions on one counter per mode: counted, lost (committed, then overwritten) and refused by the engine", cfg.workers*cfg.increments),
		SVG:     svg})
	r.Findings = isoFindings(res)
	return r, nil
}

// isoFindings compares the outcomes with the references, in sentences.
func isoFindings(res isoResult) []string {
	as := anomalies()
	var out []string
	for li, m := range isoLevels() {
		var happened, stopped, same, differ []string
		refusals := map[string]bool{}
		for _, a := range as {
			o := res.outcomes[a.name][m.name]
			if o.happened {
				happened = append(happened, a.name)
			} else {
				stopped = append(stopped, a.name)
			}
			if o.refusal != "" && !o.happened {
				refusals[errorText(o.refusal)] = true
			}
			pg := a.postgres[li] == allowed
			if pg == o.happened {
				same = append(same, a.name)
			} else {
				verb := "happens here but PostgreSQL prevents it"
				if pg {
					verb = "PostgreSQL allows it but it does not happen here"
				}
				differ = append(differ, fmt.Sprintf("%s (%s)", a.name, verb))
			}
		}
		s := fmt.Sprintf("Under %s, %s", m.name, listOr(happened, "no anomaly happened", " happened"))
		if len(stopped) > 0 && len(happened) > 0 {
			s += "; " + joinList(stopped) + " did not"
		}
		s += "."
		if len(refusals) > 0 {
			s += fmt.Sprintf(" Where it stopped one by refusing, the error was %s.", joinList(sortedKeys(refusals)))
		}
		if len(differ) == 0 {
			s += fmt.Sprintf(" That is what PostgreSQL's %s allows, row for row.", refLevels()[li].postgres)
		} else {
			s += fmt.Sprintf(" Against PostgreSQL's %s: %d of %d rows agree; %s.", refLevels()[li].postgres, len(same), len(as), joinList(differ))
		}
		out = append(out, s+" "+standardNote(li, res, m.name))
	}
	var stale []string
	for _, m := range isoLevels() {
		if res.outcomes["phantom"][m.name].stale && !res.outcomes["phantom"][m.name].happened {
			stale = append(stale, m.name)
		}
	}
	if len(stale) > 0 {
		out = append(out, fmt.Sprintf("Not seeing a phantom is not the same as being safe from it: under %s T1 read the same count twice "+
			"and committed a count the table no longer matched (%s). Only a level that checks what T1 read against what others "+
			"committed refuses that commit.", joinList(stale), res.outcomes["phantom"][stale[0]].seen))
	}
	if lu, ok := res.outcomes["lost update"]["snapshot"]; ok && !lu.happened && lu.refusal != "" {
		out = append(out, "Where PostgreSQL's REPEATABLE READ stops a lost update when T2 tries to update the row T1 changed "+
			"(T2's UPDATE waits for T1, then fails with \"could not serialize access due to concurrent update\": first updater wins), "+
			"the engine lets both write privately and refuses the later commit (first committer wins): "+lu.refusal+".")
	}
	var lockRows []string
	for _, a := range as {
		if o, ok := res.outcomes[a.name][lockMode().name]; ok {
			w := "let the " + a.name + " through"
			if !o.happened {
				w = "stopped the " + a.name
				if o.refusal != "" {
					w += " (" + o.refusal + ")"
				}
			}
			lockRows = append(lockRows, w)
		}
	}
	if len(lockRows) > 0 {
		out = append(out, "Pessimistically, with Bucket.Lock on every row read for update under snapshot isolation (SELECT ... FOR UPDATE), "+
			"the engine "+strings.Join(lockRows, " and ")+". Lock conflicts are settled by wait-die: an older transaction waits for a younger holder, and a younger one that "+
			"asks for an older one's lock is refused at once, so no cycle of waits can form.")
	}
	out = append(out, contentionFinding(res.contention))
	return out
}

// standardNote compares level li with the standard's corresponding level.
func standardNote(li int, res isoResult, mode string) string {
	var extra, fewer []string
	for _, a := range anomalies() {
		happened := res.outcomes[a.name][mode].happened
		switch a.standard[li] {
		case prevented:
			if happened {
				extra = append(extra, a.name)
			}
		case allowed:
			if !happened {
				fewer = append(fewer, a.name)
			}
		}
	}
	l := refLevels()[li].standard
	switch {
	case len(extra) > 0:
		return fmt.Sprintf("It falls short of SQL-92 %s, which forbids %s.", l, joinList(extra))
	case len(fewer) > 0:
		s := fmt.Sprintf("It meets SQL-92 %s and more: the standard allows %s, which did not happen.", l, joinList(fewer))
		if li == 1 && res.outcomes["write skew"][mode].happened {
			s += " Snapshot isolation is not a level of the standard: it also allows write skew, a phenomenon the standard's three do not name, so it is neither stronger nor weaker than REPEATABLE READ."
		}
		return s
	}
	return fmt.Sprintf("It meets SQL-92 %s.", l)
}

func contentionFinding(cs []contentionResult) string {
	var parts []string
	for _, c := range cs {
		p := fmt.Sprintf("%s %d of %d committed", c.mode, c.committed, c.attempts)
		if c.lost() > 0 {
			p += fmt.Sprintf(" but the counter shows %d: %d increments lost", c.final, c.lost())
		} else {
			p += fmt.Sprintf(" and the counter shows all %d", c.final)
		}
		if c.conflicts > 0 {
			p += fmt.Sprintf(", %d refused with a conflict", c.conflicts)
		}
		if c.deadlocks > 0 {
			p += fmt.Sprintf(", %d refused by wait-die", c.deadlocks)
		}
		if c.timeouts > 0 {
			p += fmt.Sprintf(", %d timed out waiting for the lock", c.timeouts)
		}
		parts = append(parts, p)
	}
	s := "Under contention (each transaction reads the counter and writes it back a moment later): " + strings.Join(parts, "; ") + "."
	var safe []string
	lo, hi := 1.0, 0.0
	for _, c := range cs {
		if c.lost() == 0 && c.refused() > 0 {
			safe = append(safe, c.mode)
			share := float64(c.refused()) / float64(c.attempts)
			lo, hi = min(lo, share), max(hi, share)
		}
	}
	if len(safe) > 0 {
		s += fmt.Sprintf(" The modes that lost nothing (%s) refused %s to %s of the transactions instead: a refusal is an error "+
			"the caller can retry (Update does, with Options.Retries), where a lost update is silent.", joinList(safe), pct(lo), pct(hi))
	}
	return s
}

// errorText keeps the error of a refusal, "store: transaction conflict".
func errorText(refusal string) string {
	var out []string
	for part := range strings.SplitSeq(refusal, "; ") {
		if _, e, ok := strings.Cut(part, ": "); ok {
			out = append(out, "\""+e+"\"")
		}
	}
	return strings.Join(out, ", ")
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// listOr joins names and adds verb, or returns none when there are none.
func listOr(names []string, none, verb string) string {
	if len(names) == 0 {
		return none
	}
	return joinList(names) + verb
}
