package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// An Experiment measures one or more concepts of the roadmap.
type Experiment struct {
	Name    string   // used on the command line and as the report's directory
	Summary string   // one line
	Topics  []string // ids of the roadmap topics it measures (see package roadmap)

	// Run performs the experiment and returns its report. It must stop soon after ctx ends,
	// keep every count and duration bounded, and in Quick mode finish within QuickBudget.
	Run func(ctx context.Context, p Params) (*Report, error)
}

// Params says how to run an experiment.
type Params struct {
	// Quick runs a smaller workload that finishes within QuickBudget, for a first look and
	// for tests. The report says which mode made it.
	Quick bool
	// Dir is the directory reports are written under, as Dir/NAME/report.md; "" means
	// DefaultDir.
	Dir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// DefaultDir is where reports go when Params.Dir is empty.
const DefaultDir = "reports"

// The time an experiment may take. Run cancels the experiment's context at twice this:
// a backstop, since each experiment sizes its workload to finish well within it.
const (
	QuickBudget = 10 * time.Second
	FullBudget  = 3 * time.Minute
)

// ErrUnknown is returned by Lookup for a name no experiment has.
var ErrUnknown = errors.New("unknown experiment")

// Experiments returns every experiment, in the order `gantry lab list` shows them.
func Experiments() []Experiment {
	return []Experiment{
		tailLatency(),
		consistentHashing(),
		btreeVsBPlusTree(),
		isolationLevels(),
	}
}

// Lookup returns the experiment called name. An error wraps ErrUnknown and lists the names.
func Lookup(name string) (Experiment, error) {
	var names []string
	for _, e := range Experiments() {
		if e.Name == name {
			return e, nil
		}
		names = append(names, e.Name)
	}
	return Experiment{}, fmt.Errorf("%w %q: the experiments are %s", ErrUnknown, name, strings.Join(names, ", "))
}

// Run performs e with p and writes its report under p.Dir. It returns the path of the
// report's Markdown file.
func Run(ctx context.Context, e Experiment, p Params) (string, error) {
	if p.Dir == "" {
		p.Dir = DefaultDir
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	budget := FullBudget
	if p.Quick {
		budget = QuickBudget
	}
	// Twice the budget: an experiment that runs long on a busy machine (the race detector,
	// other processes) still finishes, while one that hangs does not.
	ctx, cancel := context.WithTimeout(ctx, 2*budget)
	defer cancel()

	p.Logger.Info("experiment starting", "name", e.Name, "quick", p.Quick)
	start := time.Now()
	loadBefore := loadAverage()
	r, err := e.Run(ctx, p)
	if err != nil {
		return "", fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	r.Name = e.Name
	r.Topics = e.Topics
	r.Quick = p.Quick
	r.Started = start.UTC()
	r.Elapsed = time.Since(start)
	r.Env = environment()
	loadAfter := loadAverage()
	r.Env.Load = loadBefore + " at the start, " + loadAfter + " at the end"
	if busy(loadBefore, r.Env.Cores) || busy(loadAfter, r.Env.Cores) {
		r.Notes = append(r.Notes, fmt.Sprintf("Other work competed for the CPU: the load average was %s at the start and %s "+
			"at the end, on %d cores. Timings include waiting for a core; run again on a quieter machine to compare.",
			loadBefore, loadAfter, r.Env.Cores))
	}
	path, err := r.write(p.Dir)
	if err != nil {
		return "", fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	p.Logger.Info("experiment done", "name", e.Name, "elapsed", r.Elapsed.Round(time.Millisecond), "report", path)
	return path, nil
}

// busy reports whether a load average line says the 1-minute load exceeded the cores.
func busy(load string, cores int) bool {
	one, _, _ := strings.Cut(load, " ")
	v, err := strconv.ParseFloat(one, 64)
	return err == nil && v > float64(cores)
}
