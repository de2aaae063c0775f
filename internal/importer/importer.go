// Package importer backfills profiles from legacy exports (CSV or NDJSON):
// each row becomes a profile.imported event that goes through the same
// ingest pipeline, and so the same identity resolution, as live events.
// Envelope ids are stable per row, so re-running an import is idempotent.
package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"

	"github.com/rapportcrm/rapport/internal/event"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/ingest"
)

// EventType is the type of the events an import produces.
const EventType = "profile.imported"

// EventSource is the source of the events an import produces.
const EventSource = "import"

// Processor applies batches of events, or says what applying them would
// do; *ingest.Pipeline is one.
type Processor interface {
	ProcessEvents(ctx context.Context, events []ingest.Event) []ingest.Result
	CheckEvents(ctx context.Context, events []ingest.Event) []ingest.Result
}

// Options configure one import run.
type Options struct {
	// Tenant is the organization's slug (or id); it must exist.
	Tenant string
	// SourceName prefixes every envelope id ("<SourceName>:<row key>");
	// usually the file's base name.
	SourceName string
	// System fills data.system, e.g. "MCA v1 ZA", unless a column does.
	System string
	// IDColumn names the column holding each row's stable key; without
	// it a row's key is the SHA-256 of its content.
	IDColumn string
	// ExternalIDKind (mcaV1ZaId, mcaV1UkId or golfRsaId) also maps the
	// id column to that external id.
	ExternalIDKind string
	// Map overrides the default mapping: column → field (a data field
	// name, externalIds.<kind>, attributes.<key> or "-").
	Map map[string]string
	// IgnoreUnmapped drops columns with no mapping instead of keeping
	// them as attributes.<column>.
	IgnoreUnmapped bool
	// BatchSize is the number of rows per Process call (default 1000).
	BatchSize int
	// Workers is the number of concurrent Process calls (default 4).
	Workers int
	// Retries bounds the retries of rows that failed transiently
	// (default 3; negative for none).
	Retries int
	// RetryBackoff is the first retry's delay, growing 4× per attempt
	// (default 250ms).
	RetryBackoff time.Duration
	// OccurredAt stamps every event (default: the start of the run).
	OccurredAt time.Time
	// Progress, when not nil, receives a progress bar.
	Progress io.Writer
	// ExpectedRows sizes the progress bar; 0 or less shows a spinner.
	ExpectedRows int
	// OnResult, when set, is called with every row's outcome, one call at
	// a time but not in line order.
	OnResult func(RowResult)
	// DryRun reads, validates and resolves every row as an import would,
	// against the profiles as they are, and writes nothing: the summary
	// says what the import would do. A row that repeats a person of an
	// earlier row counts as linked to that row's profile.
	DryRun bool
}

// RowResult is the outcome of one row.
type RowResult struct {
	// Line is where the row starts in the file (1-based).
	Line int
	// ID is the envelope id ("" when the row was rejected before one was
	// made).
	ID     string
	Status ingest.Status
	// Column names the offending column of a rejected row, when known.
	Column string
	// Reason says why the row was rejected or failed.
	Reason     string
	CustomerID *uuid.UUID
	Created    bool
	Flagged    int
}

// String formats a problem row as "line N: reason".
func (r RowResult) String() string {
	s := "line " + strconv.Itoa(r.Line) + ": "
	if r.Status == ingest.Failed {
		s += "failed: "
	}
	if r.Column != "" {
		s += "column " + r.Column + ": "
	}
	return s + r.Reason
}

// Summary is what an import did.
type Summary struct {
	// Rows is the number of data rows read.
	Rows int
	// Created counts rows that created a profile.
	Created int
	// Linked counts rows matched to an existing profile (processed, not
	// created), including profiles created earlier in the same import.
	Linked int
	// Flagged counts rows that raised duplicate candidates for review.
	Flagged int
	// Duplicates counts rows imported before (or repeated in the file).
	Duplicates int
	// Rejected counts invalid rows.
	Rejected int
	// Failed counts rows that still failed transiently after retries; a
	// re-run imports them.
	Failed int
	// Problems are the rejected and failed rows, by line.
	Problems []RowResult
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// DryRun: nothing was written; the counts are what the import would do.
	DryRun bool
}

// Print writes the summary for people.
func (s *Summary) Print(w io.Writer) {
	would, width := "", 20
	if s.DryRun {
		would, width = "would be ", 29
	}
	line := func(label string, n int) { fmt.Fprintf(w, "%-*s %d\n", width, label, n) }
	line("rows read", s.Rows)
	line(would+"created", s.Created)
	line(would+"linked to existing", s.Linked)
	line(would+"flagged for review", s.Flagged)
	line("duplicates", s.Duplicates)
	line(would+"rejected", s.Rejected)
	if s.Failed > 0 {
		line("failed (re-run)", s.Failed)
	}
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Rows) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "took %s (%.0f rows/s)\n", s.Elapsed.Round(time.Millisecond), rate)
}

// WriteRejects writes the problem rows as CSV: line, id, status, column,
// reason.
func (s *Summary) WriteRejects(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"line", "id", "status", "column", "reason"})
	for _, p := range s.Problems {
		_ = cw.Write([]string{strconv.Itoa(p.Line), p.ID, string(p.Status), p.Column, p.Reason})
	}
	cw.Flush()
	return cw.Error()
}

func (s *Summary) add(r RowResult) {
	switch r.Status {
	case ingest.Processed:
		if r.Created {
			s.Created++
		} else {
			s.Linked++
		}
		if r.Flagged > 0 {
			s.Flagged++
		}
	case ingest.Duplicate:
		s.Duplicates++
	case ingest.Rejected:
		s.Rejected++
		s.Problems = append(s.Problems, r)
	default:
		s.Failed++
		s.Problems = append(s.Problems, r)
	}
}

// row is one converted row waiting for the pipeline.
type row struct {
	line    int
	id      string
	ev      ingest.Event
	columns map[string]string
	// keys are the row's identity keys (rowKeys).
	keys []string
}

// job is a batch of rows, or rows settled before the pipeline (done:
// rejected, or repeating an earlier row's id).
type job struct {
	rows []row
	done []RowResult
	// repeats: the rows repeat a person of earlier rows.
	repeats bool
}

// Run imports every row r yields through p. Rows that are invalid are
// counted and listed, never fatal; the error is for what stops the whole
// run (an unreadable file, a bad option, cancellation), and comes with the
// summary of what was done until then.
func Run(ctx context.Context, p Processor, r Reader, opts Options) (*Summary, error) {
	start := time.Now()
	if opts.Tenant == "" {
		return nil, errors.New("import: a tenant is required")
	}
	if opts.SourceName == "" {
		return nil, errors.New("import: a source name is required")
	}
	// The envelope id must fit in 255 characters with a SHA-256 key.
	if len(opts.SourceName)+1+64 > 255 {
		return nil, fmt.Errorf("import: source name %q is too long", opts.SourceName)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 250 * time.Millisecond
	}
	if opts.OccurredAt.IsZero() {
		opts.OccurredAt = start
	}
	m, err := newMapper(opts)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if h := r.Header(); h != nil {
		if err := m.checkHeader(h, opts); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, opts.Workers)
	results := make(chan []RowResult, opts.Workers)
	var wg sync.WaitGroup
	work := func(jobs <-chan job) {
		for range opts.Workers {
			wg.Go(func() {
				for j := range jobs {
					if j.done != nil {
						results <- j.done
						continue
					}
					results <- process(ctx, p, j.rows, opts, j.repeats)
				}
			})
		}
	}
	work(jobs)
	sum := &Summary{DryRun: opts.DryRun}
	bar := newBar(opts.Progress, opts.ExpectedRows)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for rs := range results {
			for _, r := range rs {
				sum.add(r)
				if opts.OnResult != nil {
					opts.OnResult(r)
				}
			}
			if bar != nil {
				_ = bar.Add(len(rs))
			}
		}
	}()

	held, readErr := feed(ctx, r, m, opts, jobs, &sum.Rows)
	close(jobs)
	wg.Wait()
	// Rows that repeat a person of an earlier row go after everything
	// before them is committed, in rounds (a person listed three times
	// takes three), so they link to the profile the first one made instead
	// of racing it and failing their whole batch.
	for round := 1; len(held) > 0 && readErr == nil && ctx.Err() == nil; round++ {
		jobs = make(chan job, opts.Workers)
		work(jobs)
		var batches [][]row
		if round < maxRepeatRounds {
			held, batches = splitRepeats(held, opts.BatchSize)
		} else {
			// Whatever still repeats goes as it is; the pipeline settles the
			// races by retrying.
			batches = slices.Collect(slices.Chunk(held, opts.BatchSize))
			held = nil
		}
		for _, b := range batches {
			jobs <- job{rows: b, repeats: true}
		}
		close(jobs)
		wg.Wait()
	}
	close(results)
	<-collected
	if bar != nil {
		if readErr == nil {
			_ = bar.Finish()
		} else {
			_ = bar.Exit()
		}
	}
	slices.SortFunc(sum.Problems, func(a, b RowResult) int { return a.Line - b.Line })
	sum.Elapsed = time.Since(start)
	return sum, readErr
}

// maxRepeatRounds bounds the rounds of held-back repeats.
const maxRepeatRounds = 5

// splitRepeats returns, in batches, the rows that repeat no identity key of
// an earlier row of rows, and holds the others back.
func splitRepeats(rows []row, size int) (held []row, batches [][]row) {
	seen := map[string]struct{}{}
	var batch []row
	for _, r := range rows {
		if repeats(seen, r.keys) {
			held = append(held, r)
			continue
		}
		batch = append(batch, r)
		if len(batch) >= size {
			batches, batch = append(batches, batch), nil
		}
	}
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	return held, batches
}

// repeats reports whether any of keys is in seen, and adds them all.
func repeats(seen map[string]struct{}, keys []string) bool {
	found := false
	for _, k := range keys {
		if _, ok := seen[k]; ok {
			found = true
		}
		seen[k] = struct{}{}
	}
	return found
}

// rowKeys are a row's identity keys, normalized as the pipeline does where
// that needs no organization setting (e-mails, ids, placeholders dropped);
// phones by their last nine digits, so local and international forms match.
// They only decide which rows wait for earlier ones: a rough match costs at
// most a needless wait, a missed one a retried batch.
func rowKeys(id event.Identity) []string {
	var out []string
	add := func(kind string, v *string) {
		if v == nil {
			return
		}
		if n := identity.NormalizeID(*v); n != "" {
			out = append(out, kind+":"+strings.ToLower(n))
		}
	}
	add("auth", id.AuthUserID)
	if id.Email != nil {
		if n, err := identity.NormalizeEmail(*id.Email); err == nil && n != "" {
			out = append(out, "email:"+n)
		}
	}
	if id.PhoneNumber != nil && !identity.IsPlaceholder(*id.PhoneNumber) {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, *id.PhoneNumber)
		if len(digits) >= 7 && strings.Trim(digits, "0") != "" {
			out = append(out, "phone:"+digits[max(0, len(digits)-9):])
		}
	}
	if id.SCLMemberID != nil {
		out = append(out, "scl:"+strconv.FormatInt(*id.SCLMemberID, 10))
	}
	add("teetime", id.TeetimePlayerID)
	add("messaging", id.MessagingContactID)
	if x := id.ExternalIDs; x != nil {
		add("za", x.McaV1ZaID)
		add("uk", x.McaV1UkID)
		add("golfrsa", x.GolfRsaID)
	}
	return out
}

// feed reads, converts and batches rows until the end of the input. Rows
// that repeat an identity key of an earlier row are returned, not sent.
func feed(ctx context.Context, r Reader, m *mapper, opts Options, jobs chan<- job, rows *int) ([]row, error) {
	seen := map[string]struct{}{}
	ids := map[string]bool{}
	var held []row
	var batch []row
	var done []RowResult
	send := func(j job) error {
		select {
		case jobs <- j:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	flush := func() error {
		if len(done) > 0 {
			if err := send(job{done: done}); err != nil {
				return err
			}
			done = nil
		}
		if len(batch) > 0 {
			if err := send(job{rows: batch}); err != nil {
				return err
			}
			batch = nil
		}
		return nil
	}
	prefix := opts.SourceName + ":"
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = flush()
			return nil, fmt.Errorf("import: read: %w", err)
		}
		*rows++
		if rec.Err != nil {
			done = append(done, RowResult{Line: rec.Line, Status: ingest.Rejected, Reason: rec.Err.Error()})
			continue
		}
		mp, err := m.mapRecord(rec, opts)
		if err != nil {
			rr := RowResult{Line: rec.Line, Status: ingest.Rejected, Reason: err.Error()}
			var re *rowError
			if errors.As(err, &re) {
				rr.Column, rr.Reason = re.column, re.reason
			}
			done = append(done, rr)
			continue
		}
		key := mp.key
		if key == "" {
			key = mp.hash
		}
		id := prefix + key
		// A row with the id of an earlier one is that row again: the
		// pipeline would find it in the sync log once the earlier one is
		// in (and a dry run, which records nothing, never would).
		if ids[id] {
			done = append(done, RowResult{Line: rec.Line, ID: id, Status: ingest.Duplicate})
			continue
		}
		ids[id] = true
		ev := ingest.Event{Envelope: event.Envelope{ID: id, Type: EventType, Source: EventSource, Tenant: opts.Tenant,
			OccurredAt: opts.OccurredAt.UTC()}, Payload: mp.data}
		rw := row{line: rec.Line, id: id, ev: ev, columns: mp.columns, keys: rowKeys(mp.data.Identity)}
		if repeats(seen, rw.keys) {
			held = append(held, rw)
			continue
		}
		batch = append(batch, rw)
		if len(batch) >= opts.BatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return held, ctx.Err()
}

// process runs one batch through the pipeline, retrying rows that failed
// transiently.
func process(ctx context.Context, p Processor, rows []row, opts Options, repeats bool) []RowResult {
	events := make([]ingest.Event, len(rows))
	for i, r := range rows {
		events[i] = r.ev
	}
	apply := p.ProcessEvents
	if opts.DryRun {
		apply = p.CheckEvents
	}
	res := apply(ctx, events)
	delay := opts.RetryBackoff
	for attempt := 1; attempt <= opts.Retries; attempt++ {
		var idx []int
		for i, r := range res {
			if r.Status == ingest.Failed {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay *= 4
		sub := make([]ingest.Event, len(idx))
		for k, i := range idx {
			sub[k] = events[i]
		}
		again := apply(ctx, sub)
		for k, i := range idx {
			res[i] = again[k]
		}
	}
	out := make([]RowResult, len(rows))
	for i, r := range rows {
		x := res[i]
		rr := RowResult{Line: r.line, ID: r.id, Status: x.Status, Reason: x.Reason, CustomerID: x.CustomerID, Created: x.Created, Flagged: x.Flagged}
		if rr.Status == "" {
			rr.Status, rr.Reason = ingest.Failed, "no result from the pipeline"
		}
		if rr.Status == ingest.Rejected {
			rr.Column, rr.Reason = columnOf(x.Reason, r.columns)
		}
		if opts.DryRun && repeats && rr.Created {
			// The earlier row's profile was never written, so the check
			// could not find it; the import would link this row to it.
			rr.Created, rr.CustomerID = false, nil
		}
		out[i] = rr
	}
	return out
}

// columnOf turns a pipeline reason about "data.<field>" into one naming the
// column that fed the field.
func columnOf(reason string, columns map[string]string) (string, string) {
	rest, ok := strings.CutPrefix(reason, "data.")
	if !ok {
		return "", reason
	}
	field, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		return "", reason
	}
	if col, ok := columns[field]; ok {
		return col, msg
	}
	return "", reason
}

func newBar(w io.Writer, n int) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	if n <= 0 {
		n = -1
	}
	return progressbar.NewOptions64(int64(n),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("importing rows"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
