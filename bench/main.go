// Command bench measures the GraphQL API against a large PostgreSQL tenant:
// it seeds synthetic profiles (once; later runs reuse them), starts the real
// service in-process and drives the hot read paths over HTTP, printing
// throughput and latency percentiles next to the targets they must meet.
// It reports figures; it is not a pass/fail test.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/seed"
)

const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/rapport_bench?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
	// sampleSize profiles are drawn at random as request inputs: enough that
	// the requests do not all hit a handful of hot pages.
	sampleSize = 20_000
	warmup     = 2 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what one run is told to do.
type config struct {
	databaseURL string
	// serviceURL is what the service and the in-process services connect
	// with: an ordinary role, so row-level security is in force as in
	// production (serviceAs).
	serviceURL string
	redisURL   string
	profiles   int
	// activities is the size the activities table must reach.
	activities int
	duration   time.Duration
	clients    []int
	skipSeed   bool
	skipHTTP   bool
	cpuProfile string
	ingest     ingestConfig
	skipIngest bool
	importRows int
	skipImport bool
	// skipScores and skipSegments skip the scoring and segment scenarios.
	skipScores   bool
	skipSegments bool
}

// run prepares the data, starts the service and prints the measurements:
// the read paths over HTTP, event ingestion from the Redis streams with the
// live timeline, and the backfill importer, then every target with its
// figure.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if err := ensureDatabase(ctx, cfg.databaseURL); err != nil {
		return err
	}
	fx, err := prepare(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	if cfg.serviceURL, err = serviceAs(ctx, cfg.databaseURL, stdout); err != nil {
		return err
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var verdicts []verdict
	if cfg.skipHTTP {
		for _, t := range targets {
			verdicts = append(verdicts, skipped(t.desc, "-skip-http"))
		}
	} else {
		vs, err := benchHTTP(ctx, cfg, fx, stdout, stderr)
		if err != nil {
			return err
		}
		verdicts = append(verdicts, vs...)
	}
	if cfg.skipIngest {
		verdicts = append(verdicts, ingestSkipped("-skip-ingest")...)
	} else {
		verdicts = append(verdicts, benchIngest(ctx, cfg, fx, stdout, stderr)...)
	}
	if cfg.skipImport {
		verdicts = append(verdicts, skipped(importTarget, "-skip-import"), skipped(importRerunTarget, "-skip-import"))
	} else {
		verdicts = append(verdicts, benchImport(ctx, cfg, stdout, stderr)...)
	}
	// Scores first: the segment preview's rules read engagement scores.
	if cfg.skipScores {
		verdicts = append(verdicts, skipped(scoresTarget, "-skip-scores"))
	} else {
		verdicts = append(verdicts, benchScores(ctx, cfg, fx, stdout))
	}
	if cfg.skipSegments {
		verdicts = append(verdicts, segmentsSkipped("-skip-segments")...)
	} else {
		if !cfg.skipScores {
			if err := vacuumProfilesWithoutAutovacuum(ctx, cfg.databaseURL, stdout); err != nil {
				return err
			}
		}
		verdicts = append(verdicts, benchSegments(ctx, cfg, fx, stdout, stderr)...)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	printTargets(stdout, verdicts)
	return nil
}

// benchHTTP starts the service without Redis, as the read paths need none,
// and measures each scenario at each client count.
func benchHTTP(ctx context.Context, cfg config, fx fixture, stdout, stderr io.Writer) ([]verdict, error) {
	svc, err := startService(ctx, app.Config{DatabaseURL: cfg.serviceURL}, fx.orgID)
	if err != nil {
		return nil, err
	}
	defer svc.close(ctx, stderr)
	fmt.Fprintf(stdout, "\nservice at %s; %s warm-up, %s measured per run; GOMAXPROCS %d (load generator and service share them)\n\n",
		svc.addr, warmup, cfg.duration, runtime.GOMAXPROCS(0))
	c := newClient(svc.addr, svc.token)
	var results []result
	for _, sc := range scenarios(fx.samples, fx.heavy) {
		for _, n := range cfg.clients {
			r := measure(ctx, c, sc, n, warmup, cfg.duration)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "%-18s %3d clients: %d requests\n", sc.name, n, r.requests())
			results = append(results, r)
		}
	}
	printResults(stdout, results)
	printFailures(stdout, results)
	warnWindowJob(stdout, svc.started, time.Now())
	notes := map[string]string{"timeline": fmt.Sprintf("%s entries of one customer in a table of %s", thousands(heavyActivities), thousands(fx.activities))}
	return httpVerdicts(results, notes), nil
}

// parseConfig reads the flags; the database and Redis URLs come from the
// environment.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{databaseURL: getenv("RAPPORT_BENCH_DATABASE_URL"), redisURL: getenv("RAPPORT_BENCH_REDIS_URL")}
	if cfg.databaseURL == "" {
		cfg.databaseURL = defaultDatabaseURL
	}
	if cfg.redisURL == "" {
		cfg.redisURL = defaultRedisURL
	}
	fs.IntVar(&cfg.profiles, "profiles", 1_000_000, "profiles the bench tenant must hold (missing ones are seeded)")
	fs.IntVar(&cfg.activities, "activities", 20_000_000, "timeline entries the activities table must hold (missing ones are seeded, spread over the bench tenant's profiles)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time per scenario and client count")
	clients := fs.String("clients", "1,16", "comma-separated numbers of concurrent clients")
	fs.BoolVar(&cfg.skipSeed, "skip-seed", false, "measure whatever profiles and activities exist; seed none")
	fs.BoolVar(&cfg.skipHTTP, "skip-http", false, "skip the read paths over HTTP")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs (service and load generator) to this file")
	fs.BoolVar(&cfg.skipIngest, "skip-ingest", false, "skip event ingestion from the Redis streams and the live timeline")
	fs.IntVar(&cfg.ingest.events, "events", 200_000, "events put on the streams for the ingestion throughput")
	fs.IntVar(&cfg.ingest.workers, "event-workers", 0, "stream consumers of the service (0: its default, RAPPORT_EVENT_WORKERS)")
	fs.IntVar(&cfg.ingest.batch, "event-batch", 0, "entries a consumer reads per stream and round (0: the service's default, RAPPORT_EVENT_BATCH)")
	fs.IntVar(&cfg.ingest.subscribers, "subscribers", 50, "timelineUpdated subscribers, one customer each, for the live latency")
	fs.DurationVar(&cfg.ingest.liveDuration, "live-duration", 20*time.Second, "how long events stream in while the subscribers' latency is measured")
	fs.IntVar(&cfg.ingest.liveRate, "live-rate", 0, "events/s streamed in during the latency run (0: the 10,000/s target, or 90% of the measured throughput if that is lower)")
	fs.BoolVar(&cfg.skipImport, "skip-import", false, "skip the backfill importer")
	fs.BoolVar(&cfg.skipScores, "skip-scores", false, "skip the full score recompute")
	fs.BoolVar(&cfg.skipSegments, "skip-segments", false, "skip segment previews, refreshes and real-time membership")
	fs.IntVar(&cfg.importRows, "import-rows", 100_000, "rows of the CSV export the importer loads")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.clients, err = parseClients(*clients); err != nil {
		return cfg, err
	}
	switch {
	case cfg.duration <= 0:
		return cfg, errors.New("-duration must be positive")
	case cfg.ingest.events < 1 || cfg.ingest.subscribers < 1 || cfg.importRows < 1:
		return cfg, errors.New("-events, -subscribers and -import-rows must be positive")
	case cfg.ingest.liveDuration <= 0 || cfg.ingest.liveRate < 0 || cfg.ingest.workers < 0 || cfg.ingest.batch < 0:
		return cfg, errors.New("-live-duration must be positive; -live-rate, -event-workers and -event-batch not negative")
	}
	return cfg, nil
}

// parseClients parses a comma-separated list of client counts.
func parseClients(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: %q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ensureDatabase creates the benchmark database when the server lacks it,
// so a fresh PostgreSQL needs no manual step.
func ensureDatabase(ctx context.Context, dbURL string) error {
	err := ping(ctx, dbURL)
	var pqErr *pq.Error
	if err == nil || !errors.As(err, &pqErr) || pqErr.Code.Name() != "invalid_catalog_name" {
		return err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	adminURL, err := database.WithDatabase(dbURL, "postgres")
	if err != nil {
		return err
	}
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	// CREATE DATABASE takes no parameters, hence the quoted identifier.
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	if errors.As(err, &pqErr) && pqErr.Code.Name() == "duplicate_database" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// benchRole is the ordinary role the measured code connects as.
const benchRole = "rapport_bench_app"

// serviceAs returns the URL the measured code connects with. Production
// connects as an ordinary role, under which row-level security adds its
// policy to every statement and may change plans (README, Tenancy); the
// bench does the same, creating benchRole with the application's grants
// when the URL's role is a superuser. Another role is used as it is, and
// the bench says whether the policies apply to it.
func serviceAs(ctx context.Context, ownerURL string, stdout io.Writer) (string, error) {
	db, err := sql.Open("postgres", ownerURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var super, bypass bool
	if err := db.QueryRowContext(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass); err != nil {
		return "", fmt.Errorf("inspect the bench role: %w", err)
	}
	if !super {
		if bypass {
			fmt.Fprintln(stdout, "the measured code connects as the URL's role, which bypasses row-level security")
		}
		return ownerURL, nil
	}
	for _, q := range []string{
		"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + benchRole + "') THEN CREATE ROLE " + benchRole + " LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'bench'; END IF; END $$",
		"GRANT USAGE ON SCHEMA public TO " + benchRole,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + benchRole,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("prepare the bench role: %w", err)
		}
	}
	u, err := url.Parse(ownerURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(benchRole, "bench")
	fmt.Fprintf(stdout, "the measured code connects as %s: an ordinary role, under row-level security\n", benchRole)
	return u.String(), nil
}

// ping connects to the database and closes the connection again.
func ping(ctx context.Context, dbURL string) error {
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// fixture is the prepared data a run measures.
type fixture struct {
	orgID   uuid.UUID
	samples []sample
	// heavy is a customer with a long timeline.
	heavy string
	// activities is how many rows the activities table holds, about.
	activities int64
}

// prepare migrates, makes sure the bench tenant holds enough profiles and
// the activities table enough timeline entries, and draws the sample the
// requests are made from.
func prepare(ctx context.Context, cfg config, stdout, stderr io.Writer) (fixture, error) {
	db, err := database.OpenPostgres(ctx, cfg.databaseURL)
	if err != nil {
		return fixture{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return fixture{}, fmt.Errorf("migrate: %w", err)
	}
	org, err := organization.Ensure(ctx, db.Client, "bench", "Bench Club")
	if err != nil {
		return fixture{}, err
	}
	have, err := countProfiles(ctx, db.SQL, org.ID)
	if err != nil {
		return fixture{}, err
	}
	fmt.Fprintf(stdout, "tenant bench (%s) holds %d profiles\n", org.ID, have)
	if missing := cfg.profiles - have; missing > 0 && !cfg.skipSeed {
		if err := seedProfiles(ctx, db, org.ID, missing, stdout, stderr); err != nil {
			return fixture{}, err
		}
	}
	start := time.Now()
	samples, err := sampleProfiles(ctx, db.SQL, org.ID, sampleSize)
	if err != nil {
		return fixture{}, err
	}
	fmt.Fprintf(stdout, "sampled %d profiles in %s\n", len(samples), time.Since(start).Round(time.Millisecond))
	if len(samples) == 0 {
		return fixture{}, errors.New("the bench tenant has no profiles with an e-mail to measure; run without -skip-seed")
	}
	acts, err := ensureActivities(ctx, db.SQL, org.ID, int64(cfg.activities), cfg.skipSeed, stdout, stderr)
	if err != nil {
		return fixture{}, err
	}
	heavy, err := ensureHeavyCustomer(ctx, db.SQL, org.ID, stdout)
	if err != nil {
		return fixture{}, err
	}
	if err := vacuumWithoutAutovacuum(ctx, db.SQL, stdout); err != nil {
		return fixture{}, err
	}
	prewarm(ctx, db.SQL, stdout)
	return fixture{orgID: org.ID, samples: samples, heavy: heavy, activities: acts}, nil
}

// seedProfiles writes the missing profiles, then vacuums and analyzes: the
// planner's statistics would otherwise still describe the empty tables, and
// without the vacuum the first run after a seed would pay for setting the
// fresh rows' hint bits (reads that dirty pages), which later runs do not.
func seedProfiles(ctx context.Context, db *database.DB, orgID uuid.UUID, n int, stdout, stderr io.Writer) error {
	st, err := seed.Profiles(ctx, db.SQL, db.Dialect, orgID, n, stderr)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d profiles and %d aliases in %s (%.0f profiles/s)\n",
		st.Profiles, st.Aliases, st.Elapsed.Round(time.Millisecond), float64(st.Profiles)/st.Elapsed.Seconds())
	start := time.Now()
	if _, err := db.SQL.ExecContext(ctx, "VACUUM (ANALYZE) customer_profiles, identity_aliases"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	fmt.Fprintf(stdout, "VACUUM (ANALYZE) took %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// vacuumProfilesWithoutAutovacuum vacuums the profiles after the full score
// recomputes when the server runs without autovacuum. The first recompute
// rewrites every profile: in production autovacuum then clears the old
// versions and marks the pages all-visible again within minutes (the
// nightly run changes far more than its 20% threshold), while here the
// segment scenarios would read a million dead versions, and by the table
// where the tier/status index answers alone (measured on 1,000,000
// profiles, right after a recompute against after this vacuum: preview p50
// 335 against 249 ms, the ~58,000-member fill 467 against 256 ms, a no-op
// refresh 119 against 80 ms).
func vacuumProfilesWithoutAutovacuum(ctx context.Context, dbURL string, stdout io.Writer) error {
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = vacuumIfNoAutovacuum(ctx, db, "customer_profiles", "the profiles after the recompute", stdout)
	return err
}

// vacuumIfNoAutovacuum runs VACUUM (ANALYZE) of tables ("" for the whole
// database) when the server runs without autovacuum, prints how long it
// took, and reports whether it ran.
func vacuumIfNoAutovacuum(ctx context.Context, db *sql.DB, tables, what string, stdout io.Writer) (bool, error) {
	var on string
	if err := db.QueryRowContext(ctx, "SHOW autovacuum").Scan(&on); err != nil {
		return false, fmt.Errorf("show autovacuum: %w", err)
	}
	if on == "on" {
		return false, nil
	}
	start := time.Now()
	if _, err := db.ExecContext(ctx, strings.TrimSpace("VACUUM (ANALYZE) "+tables)); err != nil {
		return false, fmt.Errorf("vacuum analyze: %w", err)
	}
	fmt.Fprintf(stdout, "autovacuum is off: VACUUM (ANALYZE) of %s took %s\n", what, time.Since(start).Round(time.Millisecond))
	return true, nil
}

// vacuumWithoutAutovacuum vacuums and analyzes the database when the server
// runs without autovacuum (development machines often do). Every run
// leaves dead profile versions and new sync log, audit and outbox rows; in
// production autovacuum clears and counts them, and without it each run
// would measure against more garbage and older statistics than the last.
func vacuumWithoutAutovacuum(ctx context.Context, db *sql.DB, stdout io.Writer) error {
	ran, err := vacuumIfNoAutovacuum(ctx, db, "", "the database", stdout)
	if err != nil || !ran {
		return err
	}
	// The vacuum dirties every page whose hint bits or visibility it sets:
	// after a seed, nearly the whole database. A checkpoint writes them out
	// now, so the measured phases do not share the disk with that write-back.
	start := time.Now()
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		fmt.Fprintf(stdout, "CHECKPOINT failed (%v): the vacuum's pages are written back during the run\n", err)
		return nil
	}
	fmt.Fprintf(stdout, "CHECKPOINT after it took %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// prewarm reads every table and index of the database once (pg_prewarm's
// read mode: into the operating system's cache, not PostgreSQL's buffers),
// so the figures describe a server whose data is in memory, as a
// production server's working set is. Without it they depend on what ran
// before: copying the database to or from a template leaves the copy's
// pages in the cache instead of the measured ones. Measured on a 2-core
// machine whose disk served reads in ~60 ms: the first full score
// recompute took 118.1 s cold against 30.9 s warm, ingestion 7,231 events/s
// against 10,189–14,245. The vacuum before does not warm the cache: it
// skips the pages the visibility map marks all-visible. Where the extension
// cannot be created (it needs a superuser), the run goes on as it is.
func prewarm(ctx context.Context, db *sql.DB, stdout io.Writer) {
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_prewarm"); err != nil {
		fmt.Fprintf(stdout, "no prewarm (%v): the figures depend on what the cache holds\n", err)
		return
	}
	start := time.Now()
	var blocks int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i') AND c.relpersistence = 'p'`).Scan(&blocks)
	if err != nil {
		fmt.Fprintf(stdout, "prewarm failed (%v): the figures depend on what the cache holds\n", err)
		return
	}
	fmt.Fprintf(stdout, "prewarm: read %s MB of tables and indexes into the OS cache in %s\n",
		thousands(blocks*8192/1_000_000), time.Since(start).Round(time.Millisecond))
}

// service is the Rapport service running in this process.
type service struct {
	app   *app.App
	addr  string
	token string
	// started is when it began serving and consuming.
	started time.Time
}

// startService starts the real service configured as c on a free port with
// a fresh secret and issues an admin token for the bench tenant.
func startService(ctx context.Context, c app.Config, orgID uuid.UUID) (*service, error) {
	secret := make([]byte, 48)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	c.Addr, c.JWTSecret = "127.0.0.1:0", secret
	// Logging every request would measure the logger.
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("start service: %w", err)
	}
	p := auth.Principal{UserID: "bench", Tenant: orgID.String(), Role: auth.RoleAdmin}
	token, err := auth.IssueHS256(secret, p, 6*time.Hour, time.Now())
	if err != nil {
		a.Close(ctx)
		return nil, err
	}
	started := time.Now()
	if err := a.Start(); err != nil {
		a.Close(ctx)
		return nil, err
	}
	return &service{app: a, addr: a.Addr(), token: token, started: started}, nil
}

// close stops the service, reporting rather than returning a failure: the
// figures are already printed.
func (s *service) close(ctx context.Context, stderr io.Writer) {
	if err := s.app.Close(ctx); err != nil {
		fmt.Fprintln(stderr, "bench: stop service:", err)
	}
}
