package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/auth"
)

// common are the flags every subcommand that touches the database shares.
type common struct {
	dataDir string
	dev     bool
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.dataDir, "data-dir", envOr(getenv, "RAPPORT_DATA_DIR", "./data"), "directory of the embedded database and dev secret (env RAPPORT_DATA_DIR)")
}

func newLogger(getenv func(string) string, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(envOr(getenv, "RAPPORT_LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(getenv("RAPPORT_LOG_FORMAT"), "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// jwtSecret returns the configured secret; in dev mode (or when allowDev is
// set for local tools) it falls back to the one kept in the data dir.
func jwtSecret(getenv func(string) string, dataDir string, allowDev bool) ([]byte, error) {
	if s := getenv("RAPPORT_JWT_SECRET"); s != "" {
		if len(s) < 32 {
			return nil, errors.New("RAPPORT_JWT_SECRET must be at least 32 characters")
		}
		return []byte(s), nil
	}
	if allowDev {
		return auth.LoadOrCreateSecret(dataDir)
	}
	return nil, nil
}

func baseConfig(getenv func(string) string, c common, stderr io.Writer) app.Config {
	var origins []string
	for _, o := range strings.Split(getenv("RAPPORT_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	maxDeliveries, _ := strconv.ParseInt(getenv("RAPPORT_EVENT_MAX_DELIVERIES"), 10, 64)
	claimIdle, _ := time.ParseDuration(getenv("RAPPORT_EVENT_CLAIM_IDLE"))
	batch, _ := strconv.Atoi(getenv("RAPPORT_EVENT_BATCH"))
	workers, _ := strconv.Atoi(getenv("RAPPORT_EVENT_WORKERS"))
	return app.Config{
		EventMaxDeliveries: maxDeliveries,
		EventClaimIdle:     claimIdle,
		EventBatch:         batch,
		EventWorkers:       workers,
		DataDir:            c.dataDir,
		DatabaseURL:        getenv("RAPPORT_DATABASE_URL"),
		RedisURL:           getenv("RAPPORT_REDIS_URL"),
		JWKSURL:            getenv("RAPPORT_JWKS_URL"),
		JWTIssuer:          getenv("RAPPORT_JWT_ISSUER"),
		JWTAudience:        getenv("RAPPORT_JWT_AUDIENCE"),
		AllowedOrigins:     origins,
		Logger:             newLogger(getenv, stderr),
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
