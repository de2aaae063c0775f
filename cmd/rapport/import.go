package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/importer"
	"github.com/rapportcrm/rapport/internal/ingest"
	orgs "github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/segment"
)

// maxStderrRejects bounds the rejected rows listed on stderr without --rejects.
const maxStderrRejects = 50

// mapFlags collects repeated --map column=field flags.
type mapFlags map[string]string

func (m mapFlags) String() string { return "" }

func (m mapFlags) Set(v string) error {
	col, field, ok := strings.Cut(v, "=")
	col = strings.TrimSpace(col)
	if !ok || col == "" || strings.TrimSpace(field) == "" {
		return fmt.Errorf("want column=field, got %q", v)
	}
	if _, dup := m[col]; dup {
		return fmt.Errorf("column %q is mapped twice", col)
	}
	m[col] = strings.TrimSpace(field)
	return nil
}

func cmdImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c common
	c.register(fs, getenv)
	var opts importer.Options
	maps := mapFlags{}
	fs.StringVar(&opts.Tenant, "tenant", "", "organization slug (must exist)")
	format := fs.String("format", "", "csv or ndjson (default: from the file's extension)")
	fs.Var(maps, "map", "column=field mapping, repeatable (field: email, phoneNumber, externalIds.mcaV1UkId, attributes.<key>, - to ignore, ...)")
	fs.BoolVar(&opts.IgnoreUnmapped, "ignore-unmapped", false, "drop columns with no mapping instead of keeping them as attributes")
	fs.StringVar(&opts.System, "system", "", `legacy system name for data.system, e.g. "MCA v1 ZA"`)
	fs.StringVar(&opts.IDColumn, "id-column", "", "column holding each row's stable key (default: a hash of the row)")
	fs.StringVar(&opts.ExternalIDKind, "external-id-kind", "", "also store the id column as this external id: mcaV1ZaId, mcaV1UkId or golfRsaId")
	fs.StringVar(&opts.SourceName, "source-name", "", "prefix of the event ids (default: the file's base name)")
	fs.IntVar(&opts.BatchSize, "batch", 1000, "rows per pipeline batch")
	fs.IntVar(&opts.Workers, "workers", 4, "concurrent batches")
	rejects := fs.String("rejects", "", "write every rejected row to this CSV file")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "read, validate and resolve every row, write nothing, and say what the import would do")
	occurred := fs.String("occurred-at", "", "when the imported facts held, RFC 3339 or YYYY-MM-DD (default: now); dates the timeline entries")
	// Flags may come before and after FILE.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if opts.Tenant == "" || len(files) != 1 {
		return errors.New("import: usage: rapport import --tenant SLUG [flags] FILE")
	}
	path := files[0]
	var f importer.Format
	var err error
	if *format != "" {
		f, err = importer.ParseFormat(*format)
	} else if path == "-" {
		err = errors.New("reading stdin needs --format")
	} else {
		f, err = importer.DetectFormat(path)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if opts.SourceName == "" {
		opts.SourceName = filepath.Base(path)
		if path == "-" {
			opts.SourceName = "stdin"
		}
	}
	if opts.BatchSize <= 0 || opts.Workers <= 0 {
		return errors.New("import: --batch and --workers must be positive")
	}
	opts.Map = maps
	if *occurred != "" {
		t, err := time.Parse(time.RFC3339, *occurred)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, *occurred); err != nil {
				return fmt.Errorf("import: --occurred-at %q: want RFC 3339 or YYYY-MM-DD", *occurred)
			}
		}
		opts.OccurredAt = t
	}

	var in io.Reader = os.Stdin
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer file.Close()
		if n, err := importer.CountLines(file); err == nil {
			if f == importer.CSV {
				n-- // the header
			}
			opts.ExpectedRows = n
		}
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		in = file
	}
	r, err := importer.NewReader(in, f)
	if err != nil {
		return fmt.Errorf("import: %s: %w", path, err)
	}

	db, err := openDB(ctx, getenv, c)
	if err != nil {
		return err
	}
	defer db.Close()
	db.Client.Use(audit.Hook())
	resolver := orgs.NewResolver(db.Client)
	org, err := resolver.Lookup(ctx, opts.Tenant)
	if err != nil {
		if apperr.Is(err, apperr.Unauthenticated) || apperr.Is(err, apperr.NotFound) {
			return fmt.Errorf("import: no organization %q; create it first (e.g. rapport token --tenant %s --role admin)", opts.Tenant, opts.Tenant)
		}
		return fmt.Errorf("import: look up organization %q: %w", opts.Tenant, err)
	}
	opts.Tenant = org.Slug
	// The profiles the rows create or change are rescored and their dynamic
	// segments re-decided once the rows are in, as the service does after
	// each ingested batch: imported members carry scores and sit in their
	// segments when the command returns, not after the next scheduled run.
	// With Redis configured, the follow-up's segment changes also reach
	// the live subscribers of the running service (segmentMembershipChanged).
	var pub segment.Publisher
	if url := getenv("RAPPORT_REDIS_URL"); url != "" {
		hub, closeRedis, err := app.RedisPublisher(ctx, url)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer closeRedis()
		pub = hub
	}
	follow := app.NewBulkFollowup(db.Client, db.Dialect, pub)
	p := ingest.New(ingest.Config{Client: db.Client, Dialect: db.Dialect, Orgs: resolver, ProfilesChanged: follow.Add})
	opts.Progress = stderr

	defer importer.TuneGC()()
	sum, runErr := importer.Run(ctx, p, r, opts)
	if sum == nil {
		return runErr
	}
	if opts.DryRun {
		fmt.Fprintf(stdout, "dry run of the import of %s into %q (event ids %s:…): nothing was written\n", path, org.Slug, opts.SourceName)
	} else {
		fmt.Fprintf(stdout, "import of %s into %q (event ids %s:…)\n", path, org.Slug, opts.SourceName)
	}
	sum.Print(stdout)
	if n := follow.Pending(); n > 0 {
		fmt.Fprintf(stderr, "rescoring %d profiles and re-deciding their dynamic segments…\n", n)
		start := time.Now()
		res, err := follow.Run(ctx)
		if err != nil {
			// The rows are in; only their scores and memberships lag.
			fmt.Fprintf(stderr, "follow-up failed (the scheduled recomputes will catch up): %v\n", err)
		} else {
			how := ""
			if res.FullRuns > 0 {
				how = " (a full score run and segment refresh of the organization)"
			}
			fmt.Fprintf(stdout, "rescored and re-segmented %d profiles in %s%s\n", n, time.Since(start).Round(time.Millisecond), how)
		}
	}
	if len(sum.Problems) > 0 {
		if *rejects != "" {
			if err := writeRejects(*rejects, sum); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "rejected rows written to %s\n", *rejects)
		} else {
			for i, p := range sum.Problems {
				if i == maxStderrRejects {
					fmt.Fprintf(stderr, "… and %d more (use --rejects FILE for all)\n", len(sum.Problems)-i)
					break
				}
				fmt.Fprintln(stderr, p.String())
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	if sum.Failed > 0 {
		return fmt.Errorf("import: %d rows failed transiently after retries; run the import again to finish them", sum.Failed)
	}
	return nil
}

func writeRejects(path string, sum *importer.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("import: --rejects: %w", err)
	}
	if err := sum.WriteRejects(f); err != nil {
		f.Close()
		return fmt.Errorf("import: --rejects: %w", err)
	}
	return f.Close()
}
