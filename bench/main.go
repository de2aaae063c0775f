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
	profiles    int
	duration    time.Duration
	clients     []int
	skipSeed    bool
	cpuProfile  string
}

// run prepares the data, starts the service and prints the measurements.
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
	svc, err := startService(ctx, cfg.databaseURL, fx.orgID)
	if err != nil {
		return err
	}
	defer svc.close(ctx, stderr)
	fmt.Fprintf(stdout, "service at %s; %s warm-up, %s measured per run; GOMAXPROCS %d (load generator and service share them)\n\n",
		svc.addr, warmup, cfg.duration, runtime.GOMAXPROCS(0))
	c := newClient(svc.addr, svc.token)
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
	var results []result
	for _, sc := range scenarios(fx.samples, fx.heavy) {
		for _, n := range cfg.clients {
			r := measure(ctx, c, sc, n, warmup, cfg.duration)
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%-18s %3d clients: %d requests\n", sc.name, n, r.requests())
			results = append(results, r)
		}
	}
	printResults(stdout, results)
	printFailures(stdout, results)
	printTargets(stdout, results)
	return nil
}

// parseConfig reads the flags; the database URL comes from the environment.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{databaseURL: getenv("RAPPORT_BENCH_DATABASE_URL")}
	if cfg.databaseURL == "" {
		cfg.databaseURL = defaultDatabaseURL
	}
	fs.IntVar(&cfg.profiles, "profiles", 1_000_000, "profiles the bench tenant must hold (missing ones are seeded)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time per scenario and client count")
	clients := fs.String("clients", "1,16", "comma-separated numbers of concurrent clients")
	fs.BoolVar(&cfg.skipSeed, "skip-seed", false, "measure whatever profiles exist; seed none")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs (service and load generator) to this file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.clients, err = parseClients(*clients); err != nil {
		return cfg, err
	}
	if cfg.duration <= 0 {
		return cfg, errors.New("-duration must be positive")
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
}

// prepare migrates, makes sure the bench tenant holds enough profiles and
// draws the sample the requests are made from.
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
	heavy, err := ensureHeavyCustomer(ctx, db.SQL, org.ID, samples[0].id, stdout)
	if err != nil {
		return fixture{}, err
	}
	return fixture{orgID: org.ID, samples: samples, heavy: heavy}, nil
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

// service is the Rapport service running in this process.
type service struct {
	app   *app.App
	addr  string
	token string
}

// startService starts the real service on a free port with a fresh secret
// and issues an admin token for the bench tenant.
func startService(ctx context.Context, dbURL string, orgID uuid.UUID) (*service, error) {
	secret := make([]byte, 48)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	a, err := app.New(ctx, app.Config{
		Addr:        "127.0.0.1:0",
		DatabaseURL: dbURL,
		JWTSecret:   secret,
		// Logging every request would measure the logger.
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("start service: %w", err)
	}
	if err := a.Start(); err != nil {
		a.Close(ctx)
		return nil, err
	}
	p := auth.Principal{UserID: "bench", Tenant: orgID.String(), Role: auth.RoleAdmin}
	token, err := auth.IssueHS256(secret, p, time.Hour, time.Now())
	if err != nil {
		a.Close(ctx)
		return nil, err
	}
	return &service{app: a, addr: a.Addr(), token: token}, nil
}

// close stops the service, reporting rather than returning a failure: the
// figures are already printed.
func (s *service) close(ctx context.Context, stderr io.Writer) {
	if err := s.app.Close(ctx); err != nil {
		fmt.Fprintln(stderr, "bench: stop service:", err)
	}
}
