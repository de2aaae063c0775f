// Command rapport runs the Rapport CRM & marketing service and its tools.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rapport:", err)
		os.Exit(1)
	}
}

const usage = `Rapport — multi-tenant CRM & marketing platform.

Usage:
  rapport serve   [--addr 127.0.0.1:8080] [--data-dir ./data] [--dev] [--demo]
  rapport migrate [--data-dir ./data]
  rapport token   --tenant SLUG --role ROLE [--user ID] [--ttl 24h]
  rapport seed    --tenant SLUG --profiles N
  rapport import  --tenant SLUG [--map COL=FIELD]… [--id-column COL] [--system NAME] [--rejects FILE] [--dry-run] FILE.csv|FILE.ndjson
  rapport dead-letters list [--limit N] [--after ID] | show ID | replay (--all | ID…) | drop (--all | ID…)

Environment:
  RAPPORT_ADDR, RAPPORT_DATA_DIR   defaults for --addr and --data-dir
  RAPPORT_DATABASE_URL             postgres://… switches from embedded SQLite to PostgreSQL
  RAPPORT_REDIS_URL                redis://… switches the bus and pub/sub to Redis
  RAPPORT_JWT_SECRET               HS256 secret for tokens (required unless --dev/--demo or RAPPORT_JWKS_URL)
  RAPPORT_JWKS_URL                 verify RS256/ES256 tokens of your identity provider
  RAPPORT_JWT_ISSUER, RAPPORT_JWT_AUDIENCE   required iss/aud claims, when set
  RAPPORT_LOG_LEVEL, RAPPORT_LOG_FORMAT      debug|info|warn|error, text|json
  RAPPORT_ALLOWED_ORIGINS          comma-separated extra origins allowed to open websockets
`

// run is the whole program: it parses args and runs one subcommand.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return cmdToken(ctx, args[1:], getenv, stdout, stderr)
	case "seed":
		return cmdSeed(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return cmdImport(ctx, args[1:], getenv, stdout, stderr)
	case "dead-letters":
		return cmdDeadLetters(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
