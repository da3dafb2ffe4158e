package harness

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
)

// WriteMarkdown renders the report as the tables docs/benchmarks.md shows.
func (rep *Report) WriteMarkdown(w io.Writer) {
	p := &printer{w: w}
	cand, base := rep.Candidate.Name, rep.Baseline.Name

	p.line("### Machine limits")
	p.line("")
	header := []string{"limit"}
	align := []string{"---"}
	for _, conc := range rep.Plan.Conc {
		header = append(header, fmt.Sprintf("conc %d", conc))
		align = append(align, "---:")
	}
	p.row(header...)
	p.row(align...)
	tlsCells := []string{"loopback TLS copy"}
	hashCells := []string{"SHA-256"}
	for i := range rep.Plan.Conc {
		tlsCells = append(tlsCells, spread(rep.Limits.TLSCopy[i]))
		hashCells = append(hashCells, spread(rep.Limits.SHA256[i]))
	}
	p.row(tlsCells...)
	p.row(hashCells...)
	diskCells := []string{"disk write + fsync (one writer)", spread(rep.Limits.Disk)}
	for range rep.Plan.Conc[1:] {
		diskCells = append(diskCells, "")
	}
	p.row(diskCells...)
	p.line("")
	p.line(fmt.Sprintf("Best of %d samples taken through the run (before each blob size and before the manifest rows), with the slowest in brackets: a wide spread means other load on the machine.", len(rep.Limits.Disk)))
	p.line("")

	p.line("### Throughput")
	p.line("")
	p.row("row", "conc", "ops", base, cand, cand+" / "+base, base+" vs limit", cand+" vs limit")
	p.row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:")
	var failures []string
	for _, row := range rep.Rows {
		b, c := rep.cell(row, rep.Baseline), rep.cell(row, rep.Candidate)
		ratio, bLimit, cLimit := "—", rep.vsLimit(row, rep.Baseline), rep.vsLimit(row, rep.Candidate)
		if rb, rc, ok := rep.pair(row); ok {
			ratio = fmt.Sprintf("%.2f", rate(row, rc)/rate(row, rb))
		} else if rep.Candidate.Unavailable != "" {
			ratio = "pending"
		}
		p.row(row.Name(), fmt.Sprint(row.Conc), fmt.Sprint(rep.ops(row)), b, c, ratio, bLimit, cLimit)
		for _, reg := range []*Registry{rep.Baseline, rep.Candidate} {
			if res, ok := rep.Results[row][reg.Name]; ok && res.Err != nil {
				failures = append(failures, fmt.Sprintf("%s, %v: %v", reg.Name, row, res.Err))
			}
		}
	}
	p.line("")
	p.line("Blob rows are in MB/s (10⁶ bytes per second, as `go test -bench` reports), manifest rows in requests per second.")
	p.line("\"vs limit\" is push as a share of the SHA-256 rate and pull as a share of the loopback TLS copy rate at the same concurrency.")
	p.line("")

	p.line("### Peak memory (VmHWM)")
	p.line("")
	p.row(append([]string{"registry"}, rep.MemGroups...)...)
	p.row(append([]string{"---"}, slices.Repeat([]string{"---:"}, len(rep.MemGroups))...)...)
	for _, reg := range []*Registry{rep.Baseline, rep.Candidate} {
		cells := []string{reg.Name}
		for _, g := range rep.MemGroups {
			switch v, ok := rep.Memory[reg.Name][g]; {
			case ok:
				cells = append(cells, fmt.Sprintf("%d MiB", v>>20))
			case reg.Unavailable != "":
				cells = append(cells, "pending")
			default:
				cells = append(cells, "—")
			}
		}
		p.row(cells...)
	}
	p.line("")
	p.line("\"idle\" is resident memory right after start-up; every other column is the peak of a fresh server that ran only that group's rows.")

	for _, reg := range []*Registry{rep.Baseline, rep.Candidate} {
		if reg.Unavailable != "" {
			reason, _, _ := strings.Cut(reg.Unavailable, "\n")
			p.line("")
			p.line(fmt.Sprintf("**%s is pending:** %s", reg.Name, reason))
		}
	}
	if len(failures) > 0 {
		p.line("")
		p.line("Failures:")
		p.line("")
		for _, f := range failures {
			reason, _, _ := strings.Cut(f, "\n")
			p.line("- " + reason)
		}
	}
}

// cell formats one registry's result for row.
func (rep *Report) cell(row Row, reg *Registry) string {
	res, ok := rep.Results[row][reg.Name]
	switch {
	case ok && res.Err != nil:
		return "failed"
	case ok && row.Op == opManifest:
		return fmt.Sprintf("%.0f req/s", res.OpsPerSec())
	case ok:
		return mbps(res)
	case reg.Unavailable != "":
		return "pending"
	default:
		return "—"
	}
}

// pair returns both registries' results for row when both succeeded.
func (rep *Report) pair(row Row) (base, cand Result, ok bool) {
	base, okB := rep.Results[row][rep.Baseline.Name]
	cand, okC := rep.Results[row][rep.Candidate.Name]
	return base, cand, okB && okC && base.Err == nil && cand.Err == nil
}

func rate(row Row, r Result) float64 {
	if row.Op == opManifest {
		return r.OpsPerSec()
	}
	return r.MBps()
}

// vsLimit expresses a blob row as a percentage of the machine limit that
// bounds it.
func (rep *Report) vsLimit(row Row, reg *Registry) string {
	var limits [][]Result
	switch row.Op {
	case opPush:
		limits = rep.Limits.SHA256
	case opPull:
		limits = rep.Limits.TLSCopy
	default:
		return "—"
	}
	res, ok := rep.Results[row][reg.Name]
	if !ok || res.Err != nil {
		return rep.cell(row, reg)
	}
	limit := best(limits[slices.Index(rep.Plan.Conc, row.Conc)])
	return fmt.Sprintf("%.0f%%", 100*res.MBps()/limit.MBps())
}

// ops is how many operations row performs, identical for both registries.
func (rep *Report) ops(row Row) int {
	ci := slices.Index(rep.Plan.Conc, row.Conc)
	if row.Op == opManifest {
		return rep.Plan.ManifestGets[ci]
	}
	for _, sp := range rep.Plan.Sizes {
		if sp.Label == row.Size {
			if row.Op == opPush {
				return sp.Pushes[ci]
			}
			return sp.Pulls[ci]
		}
	}
	return 0
}

// spread formats limit samples as "best MB/s (slowest)".
func spread(samples []Result) string {
	if len(samples) == 0 {
		return "—"
	}
	return fmt.Sprintf("%s (%.0f)", mbps(best(samples)), worst(samples).MBps())
}

func mbps(r Result) string {
	if r.Elapsed == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MB/s", r.MBps())
}

type printer struct{ w io.Writer }

func (p *printer) line(s string) { fmt.Fprintln(p.w, s) }

func (p *printer) row(cells ...string) {
	fmt.Fprintf(p.w, "| %s |\n", strings.Join(cells, " | "))
}

// LoadAverage returns the 1, 5 and 15 minute load averages. Anything else
// running on the machine skews both the limits and the rows, so the report
// records how busy it was.
func LoadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(raw))
	return strings.Join(fields[:min(3, len(fields))], " ")
}

// Machine describes the host for the report header.
func Machine() []string {
	cpu, mem := "unknown CPU", "unknown memory"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(info)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimLeft(v, "\t :"))
				break
			}
		}
	}
	if info, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(info)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				break
			}
		}
	}
	return []string{
		fmt.Sprintf("%d CPUs (%s)", runtime.NumCPU(), cpu),
		mem + " memory",
		runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}
}
