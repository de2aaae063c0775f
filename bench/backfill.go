package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/demo"
	"github.com/rapportcrm/rapport/internal/importer"
	"github.com/rapportcrm/rapport/internal/ingest"
	"github.com/rapportcrm/rapport/internal/organization"
)

// The backfill targets of the issue: 100,000 rows in under 5 s, and a
// re-run that changes nothing.
const (
	importTarget      = "backfill import of 100,000 rows < 5 s"
	importRerunTarget = "backfill re-run of the same file creates nothing"
	importTargetRate  = 20_000 // rows/s: 100,000 in 5 s
	importSlug        = "bench-import"
	importSystem      = "MCA v1 ZA"
	// exportSeed fixes the generated export, so every run imports the same
	// file.
	exportSeed = 2026
)

// benchImport writes a legacy member export, imports it into a fresh
// tenant the way `rapport import` does, imports it again, and judges the
// targets. The tenant is emptied before (a run may have been interrupted)
// and after, so its rows never weigh on the other scenarios.
func benchImport(ctx context.Context, cfg config, stdout, stderr io.Writer) []verdict {
	vs, err := runImport(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stdout, "\nbackfill failed: %v\n", err)
		return []verdict{skipped(importTarget, "failed: "+err.Error()), skipped(importRerunTarget, "failed")}
	}
	return vs
}

// runImport is benchImport's work; it fails on what stops an import.
func runImport(ctx context.Context, cfg config, stdout, stderr io.Writer) ([]verdict, error) {
	db, err := database.OpenPostgres(ctx, cfg.databaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// As the command: every change leaves its audit entry.
	db.Client.Use(audit.Hook())
	org, err := organization.Ensure(ctx, db.Client, importSlug, "Bench Import Club")
	if err != nil {
		return nil, err
	}
	if n, err := wipeTenant(ctx, db.SQL, org.ID); err != nil {
		return nil, err
	} else if n > 0 {
		fmt.Fprintf(stdout, "\nemptied tenant %s: %s rows left by an earlier run\n", importSlug, thousands(n))
	}
	defer func() {
		start := time.Now()
		n, err := wipeTenant(context.WithoutCancel(ctx), db.SQL, org.ID)
		if err != nil {
			fmt.Fprintf(stderr, "bench: empty tenant %s: %v\n", importSlug, err)
			return
		}
		fmt.Fprintf(stdout, "  emptied tenant %s again (%s rows) in %s\n", importSlug, thousands(n), time.Since(start).Round(time.Millisecond))
	}()
	dir, err := os.MkdirTemp("", "rapport-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mca-v1-za-members.csv")
	start := time.Now()
	relisted, err := writeExport(path, cfg.importRows)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\nbackfill: %s rows (%s people listed twice) written to a CSV export in %s; rapport import --tenant %s --system %q %s\n",
		thousands(int64(cfg.importRows)), thousands(int64(relisted)), time.Since(start).Round(time.Millisecond), importSlug, importSystem, filepath.Base(path))
	// The import connects as the service does; the owner empties the
	// tenant around it.
	svc, err := database.OpenPostgres(ctx, cfg.serviceURL)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	svc.Client.Use(audit.Hook())
	// A dry run first, as a careful operator would: what it says must be
	// what the import then does, and it must write nothing.
	dry, err := importFile(ctx, svc, org.Slug, path, stderr, true)
	if err != nil {
		return nil, err
	}
	printSummary(stdout, "dry run", dry)
	if n, err := countProfiles(ctx, db.SQL, org.ID); err != nil || n != 0 {
		return nil, fmt.Errorf("the dry run wrote %d profiles (%v)", n, err)
	}
	first, err := importFile(ctx, svc, org.Slug, path, stderr, false)
	if err != nil {
		return nil, err
	}
	printSummary(stdout, "first import", first)
	if dry.Created != first.Created || dry.Linked != first.Linked || dry.Rejected != first.Rejected {
		fmt.Fprintf(stdout, "  the dry run's counts differ from the import's\n")
	}
	again, err := importFile(ctx, svc, org.Slug, path, stderr, false)
	if err != nil {
		return nil, err
	}
	printSummary(stdout, "same file again", again)

	rate := float64(first.Rows) / first.Elapsed.Seconds()
	v := verdict{desc: importTarget, figure: fmt.Sprintf("%.2f s (%.0f rows/s)", first.Elapsed.Seconds(), rate),
		met: rate >= importTargetRate && first.Rejected == 0 && first.Failed == 0 && first.Rows == cfg.importRows}
	if cfg.importRows != 100_000 {
		v.note = fmt.Sprintf("%s rows, judged by the rate", thousands(int64(cfg.importRows)))
	}
	if first.followed > 0 {
		// The command then rescores and re-segments what it imported; the
		// target is the import's, the follow-up is reported beside it.
		v.note = strings.TrimPrefix(v.note+fmt.Sprintf(", then %.2f s to rescore and re-segment %s profiles", first.followUp.Seconds(), thousands(int64(first.followed))), ", ")
	}
	if first.Rejected+first.Failed > 0 {
		v.note = strings.TrimPrefix(v.note+fmt.Sprintf(", %d rejected, %d failed", first.Rejected, first.Failed), ", ")
	}
	rerun := verdict{desc: importRerunTarget, figure: fmt.Sprintf("%d created, %s duplicates in %.2f s", again.Created, thousands(int64(again.Duplicates)), again.Elapsed.Seconds()),
		met: again.Created == 0 && again.Linked == 0 && again.Duplicates == first.Rows-first.Rejected}
	return []verdict{v, rerun}, nil
}

// importFile imports a CSV file into the tenant exactly as cmd/rapport's
// import command does with its default flags: the rows counted for the
// progress bar, the pipeline without live publishing, batches of 1,000 on
// 4 workers, the event ids prefixed by the file's base name, then the
// follow-up of the profiles it changed; dry is its --dry-run.
func importFile(ctx context.Context, db *database.DB, tenant, path string, progress io.Writer, dry bool) (*imported, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := importer.CountLines(f)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	r, err := importer.NewReader(f, importer.CSV)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	resolver := organization.NewResolver(db.Client)
	org, err := resolver.Lookup(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("look up organization %q: %w", tenant, err)
	}
	follow := app.NewBulkFollowup(db.Client, db.Dialect, nil)
	p := ingest.New(ingest.Config{Client: db.Client, Dialect: db.Dialect, Orgs: resolver, ProfilesChanged: follow.Add})
	// As the command, which runs nothing else.
	restoreGC := importer.TuneGC()
	defer restoreGC()
	sum, err := importer.Run(ctx, p, r, importer.Options{
		Tenant: org.Slug, SourceName: filepath.Base(path), System: importSystem,
		BatchSize: 1000, Workers: 4, ExpectedRows: n - 1, Progress: progress, DryRun: dry,
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	res := &imported{Summary: sum, followed: follow.Pending()}
	start := time.Now()
	fr, err := follow.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("follow-up of the import: %w", err)
	}
	res.followUp, res.full = time.Since(start), fr.FullRuns > 0
	return res, nil
}

// imported is what importFile did: the import's summary, then how many
// profiles the command's follow-up rescored and re-segmented, and how long
// that took.
type imported struct {
	*importer.Summary
	followed int
	followUp time.Duration
	full     bool // by a full score run and segment refresh
}

// printSummary prints an import's counts on one line, and its first
// problem rows.
func printSummary(w io.Writer, what string, s *imported) {
	fmt.Fprintf(w, "  %-16s %s rows in %.2f s (%.0f rows/s): %s created, %s linked to existing, %s flagged, %s duplicates, %d rejected, %d failed\n",
		what, thousands(int64(s.Rows)), s.Elapsed.Seconds(), float64(s.Rows)/s.Elapsed.Seconds(), thousands(int64(s.Created)),
		thousands(int64(s.Linked)), thousands(int64(s.Flagged)), thousands(int64(s.Duplicates)), s.Rejected, s.Failed)
	if s.followed > 0 {
		how := "round by round"
		if s.full {
			how = "by a full score run and segment refresh"
		}
		fmt.Fprintf(w, "  %-16s then rescored %s profiles and re-decided their dynamic segments in %.2f s (%s)\n", "", thousands(int64(s.followed)), s.followUp.Seconds(), how)
	}
	for i, p := range s.Problems {
		if i == 5 {
			fmt.Fprintf(w, "    … and %d more\n", len(s.Problems)-i)
			break
		}
		fmt.Fprintf(w, "    %s\n", p.String())
	}
}

// exportHeader is a legacy member database's export, column names as such
// systems write them; the importer maps them by name ("Member No" is the
// SCL member id, "ZA ID" the MCA v1 ZA id) and keeps the ones it does not
// know ("Member Since", "Locker No", "Shirt Size") as custom attributes.
var exportHeader = []string{
	"Member No", "First Name", "Surname", "E-mail", "Mobile", "HCP", "Membership Type", "Status",
	"Home Club", "ZA ID", "GolfRSA Number", "Tags", "Member Since", "Locker No", "Shirt Size",
}

// writeExport writes a CSV export of n rows of the demo club's people (a
// fixed seed: the same file every run), with the untidiness of real
// exports: phone numbers in local and international format, e-mails in
// mixed case or "n/a", plus handicaps and decimal commas, and about one
// person in a hundred listed twice under two member numbers. It returns
// how many rows list someone again.
func writeExport(path string, n int) (relisted int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(exportSeed, exportSeed))
	people := demo.People(n-n/100, exportSeed, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	w := csv.NewWriter(f)
	if err := w.Write(exportHeader); err != nil {
		return 0, err
	}
	member := int64(9_000_000)
	next := 0
	for i := range n {
		var p demo.Person
		if next < len(people) && (i%100 != 99 || relisted == n-len(people)) {
			p = people[next]
			next++
		} else {
			// Someone listed again under another member number.
			p = people[r.IntN(max(next, 1))]
			member++
			p.SclMemberID = &member
			relisted++
		}
		if err := w.Write(exportRow(r, p)); err != nil {
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	return relisted, f.Close()
}

// exportRow renders one person as the legacy system would have.
func exportRow(r *rand.Rand, p demo.Person) []string {
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	memberNo := ""
	if p.SclMemberID != nil {
		memberNo = strconv.FormatInt(*p.SclMemberID, 10)
	}
	email := p.Email
	switch r.IntN(50) {
	case 0:
		email = "n/a"
	case 1, 2, 3:
		email = strings.ToUpper(email[:1]) + email[1:]
	}
	// +27821234567 as 082 123 4567, +27 82 123 4567 or as it is.
	mobile := p.Phone
	switch d := p.Phone[3:]; r.IntN(10) {
	case 0, 1, 2, 3, 4:
		mobile = "0" + d[:2] + " " + d[2:5] + " " + d[5:]
	case 5, 6, 7:
		mobile = "+27 " + d[:2] + " " + d[2:5] + " " + d[5:]
	}
	hcp := ""
	if p.Handicap != nil {
		h := *p.Handicap
		hcp = strconv.FormatFloat(h, 'f', 1, 64)
		switch {
		case h < 0:
			hcp = "+" + strconv.FormatFloat(-h, 'f', 1, 64)
		case r.IntN(10) == 0:
			hcp = strings.Replace(hcp, ".", ",", 1)
		}
	}
	attr := func(k string) string {
		if v, ok := p.Attributes[k]; ok {
			return fmt.Sprint(v)
		}
		return ""
	}
	return []string{
		memberNo, p.FirstName, p.LastName, email, mobile, hcp, str(p.MembershipTier), str(p.MembershipStatus),
		str(p.HomeClubID), str(p.ExternalIDs.McaV1ZaID), str(p.ExternalIDs.GolfRsaID), strings.Join(p.Tags, ";"),
		attr("memberSince"), attr("lockerNumber"), attr("shirtSize"),
	}
}

// wipeTenant deletes every row the tenant owns, in every table with a
// tenant_id (or organization_id) column, children before the tables they
// reference, in one transaction, and returns how many rows went. The
// tables are read from the catalogue, so a table added later is emptied
// too.
func wipeTenant(ctx context.Context, db *sql.DB, tenantID uuid.UUID) (int64, error) {
	var total int64
	err := inTenantTxRW(ctx, db, tenantID, func(tx *sql.Tx) error {
		cols := map[string]string{}
		rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name IN ('tenant_id', 'organization_id') AND table_name <> 'organizations'
ORDER BY column_name DESC`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t, c string
			if err := rows.Scan(&t, &c); err != nil {
				rows.Close()
				return err
			}
			if _, ok := cols[t]; !ok { // tenant_id sorts first and wins
				cols[t] = c
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		order, err := childrenFirst(ctx, tx, cols)
		if err != nil {
			return err
		}
		for _, t := range order {
			res, err := tx.ExecContext(ctx, "DELETE FROM "+pq.QuoteIdentifier(t)+" WHERE "+pq.QuoteIdentifier(cols[t])+" = $1", tenantID)
			if err != nil {
				return fmt.Errorf("empty %s: %w", t, err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("empty tenant: %w", err)
	}
	return total, nil
}

// childrenFirst orders the tables so that each comes before every table
// it references by a foreign key; tables in a cycle come last, as found.
func childrenFirst(ctx context.Context, tx *sql.Tx, tables map[string]string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
WHERE contype = 'f' AND conrelid <> confrelid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// referencedBy[parent] are the children still to be emptied.
	referencedBy := map[string]map[string]bool{}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			return nil, err
		}
		child, parent = strings.Trim(child, `"`), strings.Trim(parent, `"`)
		if _, ok := tables[child]; !ok {
			continue
		}
		if referencedBy[parent] == nil {
			referencedBy[parent] = map[string]bool{}
		}
		referencedBy[parent][child] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	left := make([]string, 0, len(tables))
	for t := range tables {
		left = append(left, t)
	}
	slices.Sort(left)
	var out []string
	for len(left) > 0 {
		i := slices.IndexFunc(left, func(t string) bool { return len(referencedBy[t]) == 0 })
		if i < 0 {
			return append(out, left...), nil
		}
		t := left[i]
		out, left = append(out, t), slices.Delete(left, i, i+1)
		for _, children := range referencedBy {
			delete(children, t)
		}
	}
	return out, nil
}
