package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one scenario measured at one client count.
type result struct {
	scenario string
	clients  int
	elapsed  time.Duration
	// latencies are sorted ascending.
	latencies []time.Duration
	errors    int
	failures  map[string]int
}

// newResult merges the workers' measurements.
func newResult(name string, clients int, elapsed time.Duration, workers []*worker) result {
	r := result{scenario: name, clients: clients, elapsed: elapsed, failures: map[string]int{}}
	for _, w := range workers {
		r.latencies = append(r.latencies, w.latencies...)
		r.errors += w.errors
		for msg, n := range w.failures {
			r.failures[msg] += n
		}
	}
	slices.Sort(r.latencies)
	return r
}

// requests is the number of requests measured, failed ones included.
func (r result) requests() int { return len(r.latencies) }

// throughput is requests per second over the measured window.
func (r result) throughput() float64 { return float64(r.requests()) / r.elapsed.Seconds() }

// percentile is the nearest-rank percentile (0 < p ≤ 1): the smallest
// latency that at least p of the requests did not exceed.
func (r result) percentile(p float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return r.latencies[min(max(i, 0), n-1)]
}

// max is the slowest request's latency.
func (r result) max() time.Duration { return r.percentile(1) }

// ms formats d in milliseconds with two decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// printResults prints one aligned row per scenario and client count,
// figures right-aligned so that their magnitudes line up.
func printResults(w io.Writer, results []result) {
	width := len("scenario")
	for _, r := range results {
		width = max(width, len(r.scenario))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tclients\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\t\n", width, "scenario")
	for _, r := range results {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n",
			width, r.scenario, r.clients, r.requests(), r.throughput(),
			ms(r.percentile(0.50)), ms(r.percentile(0.90)), ms(r.percentile(0.99)), ms(r.max()), r.errors)
	}
	tw.Flush()
}

// printFailures lists what went wrong, most frequent first.
func printFailures(w io.Writer, results []result) {
	for _, r := range results {
		if r.errors == 0 {
			continue
		}
		fmt.Fprintf(w, "\nfailures of %s at %d clients:\n", r.scenario, r.clients)
		msgs := slices.SortedFunc(maps.Keys(r.failures), func(a, b string) int {
			return cmp.Or(cmp.Compare(r.failures[b], r.failures[a]), cmp.Compare(a, b))
		})
		for _, m := range msgs {
			fmt.Fprintf(w, "  %7d  %s\n", r.failures[m], m)
		}
	}
}

// target is a figure the service promises.
type target struct {
	desc     string
	scenario string
	clients  int
	met      func(result) bool
	figure   func(result) string
}

var targets = []target{
	{
		desc: "customer(id) p99 at 1 client < 10 ms", scenario: "customer(id)", clients: 1,
		met:    func(r result) bool { return r.percentile(0.99) < 10*time.Millisecond },
		figure: func(r result) string { return ms(r.percentile(0.99)) + " ms" },
	},
	{
		desc: "customer(id) ≥ 2,000 req/s at 16 clients", scenario: "customer(id)", clients: 16,
		met:    func(r result) bool { return r.throughput() >= 2000 },
		figure: func(r result) string { return fmt.Sprintf("%.0f req/s", r.throughput()) },
	},
	{
		desc: "resolveCustomer by e-mail p99 at 1 client < 10 ms", scenario: "resolveCustomer", clients: 1,
		met:    func(r result) bool { return r.percentile(0.99) < 10*time.Millisecond },
		figure: func(r result) string { return ms(r.percentile(0.99)) + " ms" },
	},
	{
		desc: "timeline first page p99 at 1 client < 20 ms", scenario: "timeline", clients: 1,
		met:    func(r result) bool { return r.percentile(0.99) < 20*time.Millisecond },
		figure: func(r result) string { return ms(r.percentile(0.99)) + " ms" },
	},
}

// verdict is one line of the target table: a promise, the figure measured
// for it and whether the figure keeps it.
type verdict struct {
	desc   string
	figure string
	met    bool
	// note qualifies the figure (the load it was measured at, why it was
	// not measured); it is printed after the verdict.
	note string
}

// httpVerdicts judges the targets measured over HTTP; notes, by scenario,
// say what a figure depends on. A run that failed requests meets nothing:
// its figures describe errors, not answers.
func httpVerdicts(results []result, notes map[string]string) []verdict {
	var out []verdict
	for _, t := range targets {
		i := slices.IndexFunc(results, func(r result) bool { return r.scenario == t.scenario && r.clients == t.clients })
		if i < 0 {
			out = append(out, verdict{desc: t.desc, figure: "-", note: fmt.Sprintf("not measured (add %d to -clients)", t.clients)})
			continue
		}
		r := results[i]
		v := verdict{desc: t.desc, figure: t.figure(r), met: t.met(r) && r.errors == 0, note: notes[t.scenario]}
		if r.errors > 0 {
			v.note = fmt.Sprintf("%d requests failed", r.errors)
		}
		out = append(out, v)
	}
	return out
}

// skipped is the verdict of a target whose scenario did not run.
func skipped(desc, why string) verdict {
	return verdict{desc: desc, figure: "-", note: why}
}

// printTargets prints each target with the measured figure and whether it
// was met; a target that was not measured is neither.
func printTargets(w io.Writer, verdicts []verdict) {
	fmt.Fprintln(w, "\ntargets")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range verdicts {
		word := "MISSED"
		switch {
		case v.figure == "-":
			word = "-"
		case v.met:
			word = "met"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", v.desc, v.figure, word, v.note)
	}
	tw.Flush()
}

// thousands formats n with comma separators, as the targets are written.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// windowJobMinute is the minute of every hour the service recomputes all
// profiles' 30-day counts (jobs.WindowCounts, "17 * * * *"), a heavy
// statement on a large tenant.
const windowJobMinute = 17

// warnWindowJob says so when the window-counts job was due in [from, to],
// from being when the measured service started: the job runs in that
// service, and its load then shared the CPUs with what was measured.
func warnWindowJob(w io.Writer, from, to time.Time) {
	t := from.UTC().Truncate(time.Hour).Add(windowJobMinute * time.Minute)
	if t.Before(from) {
		t = t.Add(time.Hour)
	}
	if !t.After(to) {
		fmt.Fprintf(w, "note: the service's window-counts job was due at %s, during this measurement; its load is in the figures\n", t.Format("15:04 UTC"))
	}
}
