package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"gantry/internal/buildinfo"
)

// A Report is what an experiment found. The experiment fills in the first group of fields;
// Run fills in the rest.
type Report struct {
	Title    string   // a heading: "Tail latency under fan-out"
	Question string   // what the experiment answers, in a sentence or two
	Params   []Param  // the workload, in the order to show
	Tables   []Table  // results
	Charts   []Chart  // SVG charts, linked from the Markdown
	Findings []string // paragraphs that explain the result from the measured numbers
	Notes    []string // caveats: how it was measured, what it does not show

	Name    string        // the experiment's name
	Topics  []string      // the roadmap topics it measures
	Quick   bool          // made in quick mode
	Started time.Time     // when the run began, UTC
	Elapsed time.Duration // how long it took
	Env     Environment   // where it ran
}

// A Param is one named setting of the workload.
type Param struct {
	Name, Value string
}

// A Table is a results table: Rows hold one cell per Header column.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// A Chart is one SVG file of the report.
type Chart struct {
	File    string // a plain file name ending in .svg: "latency.svg"
	Caption string // alt text and the line under the image
	SVG     []byte
}

// Environment describes the machine and build a report was measured on.
type Environment struct {
	CPU        string // model name from /proc/cpuinfo
	Cores      int    // logical CPUs
	GOMAXPROCS int
	OS         string // distribution and kernel when known, and GOOS/GOARCH
	Go         string // toolchain version
	Gantry     string // module version and commit
	Load       string // the system's load averages during the run, from /proc/loadavg
}

func environment() Environment {
	version, commit := buildinfo.Version()
	return Environment{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         osName(),
		Go:         runtime.Version(),
		Gantry:     version + " (commit " + commit + ")",
	}
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "unknown". A load well above
// the number of cores means other work competed with the experiment for the CPU.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown" where there is none.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// osName returns the distribution's name, the kernel release and GOOS/GOARCH, as far as known.
func osName() string {
	var parts []string
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				parts = append(parts, strings.Trim(v, `"`))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "kernel "+strings.TrimSpace(string(b)))
	}
	parts = append(parts, runtime.GOOS+"/"+runtime.GOARCH)
	return strings.Join(parts, ", ")
}

// chartFile is what a chart's file name may be: no directories, no surprises.
var chartFile = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*\.svg$`)

// write writes the report and its charts into dir/NAME and returns the Markdown's path.
func (r *Report) write(dir string) (string, error) {
	for _, c := range r.Charts {
		if !chartFile.MatchString(c.File) {
			return "", fmt.Errorf("chart file name %q: want lower-case letters, digits, '.', '-', '_' and .svg", c.File)
		}
	}
	out := filepath.Join(dir, r.Name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	for _, c := range r.Charts {
		if err := os.WriteFile(filepath.Join(out, c.File), c.SVG, 0o644); err != nil {
			return "", err
		}
	}
	path := filepath.Join(out, "report.md")
	if err := os.WriteFile(path, r.Markdown(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// Markdown renders the report.
func (r *Report) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "Experiment `%s` (%s mode), run %s, took %s. Roadmap topics: %s.\n\n",
		r.Name, mode, r.Started.Format("2006-01-02 15:04 MST"), r.Elapsed.Round(100*time.Millisecond), strings.Join(r.Topics, ", "))
	fmt.Fprintf(&b, "Reproduce with `gantry lab run %s", r.Name)
	if r.Quick {
		b.WriteString(" --quick")
	}
	b.WriteString("`.\n\n")

	fmt.Fprintf(&b, "## Question\n\n%s\n\n", r.Question)
	if len(r.Findings) > 0 {
		b.WriteString("## What it shows\n\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "%s\n\n", f)
		}
	}
	b.WriteString("## Results\n\n")
	for _, t := range r.Tables {
		writeTable(&b, t)
	}
	for _, c := range r.Charts {
		fmt.Fprintf(&b, "![%s](%s)\n\n*%s*\n\n", mdEscape(c.Caption), c.File, c.Caption)
	}
	if len(r.Params) > 0 {
		b.WriteString("## Parameters\n\n")
		writeTable(&b, Table{Header: []string{"parameter", "value"}, Rows: paramRows(r.Params)})
	}
	b.WriteString("## Environment\n\n")
	e := r.Env
	writeTable(&b, Table{Header: []string{"", ""}, Rows: [][]string{
		{"CPU", e.CPU},
		{"cores", fmt.Sprintf("%d (GOMAXPROCS %d)", e.Cores, e.GOMAXPROCS)},
		{"OS", e.OS},
		{"Go", e.Go},
		{"gantry", e.Gantry},
		{"load average (1, 5, 15 min)", e.Load},
	}})
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func paramRows(ps []Param) [][]string {
	rows := make([][]string, len(ps))
	for i, p := range ps {
		rows[i] = []string{p.Name, p.Value}
	}
	return rows
}

func writeTable(b *bytes.Buffer, t Table) {
	if t.Caption != "" {
		fmt.Fprintf(b, "%s\n\n", t.Caption)
	}
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			fmt.Fprintf(b, " %s |", cellEscape(c))
		}
		b.WriteString("\n")
	}
	row(t.Header)
	b.WriteString("|")
	for range t.Header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		row(r)
	}
	b.WriteString("\n")
}

// cellEscape keeps a value inside its table cell.
func cellEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// mdEscape keeps a caption inside the brackets of an image link.
func mdEscape(s string) string {
	return strings.NewReplacer("[", `\[`, "]", `\]`, "\n", " ").Replace(s)
}
