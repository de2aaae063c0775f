// Package app assembles the Rapport service from its parts and runs it: the
// one place that knows every dependency. cmd/rapport and the end-to-end
// tests both start it.
package app

import (
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
)

// Config is everything the service is configured with.
type Config struct {
	// Addr is the listen address; port 0 picks a free port.
	Addr string
	// DataDir holds the embedded SQLite database and the dev JWT secret.
	DataDir string
	// DatabaseURL switches to PostgreSQL (postgres://…).
	DatabaseURL string
	// RedisURL switches the bus and pub/sub to Redis (redis://…).
	RedisURL string
	// JWTSecret verifies HS256 tokens.
	JWTSecret []byte
	// JWKSURL verifies RS256/ES256 tokens of the club's identity provider.
	JWKSURL string
	// JWTIssuer and JWTAudience, when set, must match the token's claims.
	JWTIssuer   string
	JWTAudience string
	// AllowedOrigins are extra browser origins allowed to open websockets.
	AllowedOrigins []string
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration
	// Logger receives structured logs.
	Logger *slog.Logger
	// EventMaxDeliveries is how often a stream entry is tried before it is
	// moved to the dead-letter stream (default 5).
	EventMaxDeliveries int64
	// EventClaimIdle is how long an entry may stay pending with a consumer
	// before another replica reclaims it (default 30s).
	EventClaimIdle time.Duration
	// EventBatch is the most entries read and processed at once (default 1000).
	EventBatch int
	// EventWorkers is the number of stream consumers per replica (default 3).
	EventWorkers int
	// RedisPrefix is put before every Redis stream and channel name
	// (rapport:in:scl becomes <prefix>rapport:in:scl), so several
	// deployments (or tests) can share one Redis.
	RedisPrefix string
	// DisableConsumers keeps this instance from reading the event streams
	// and relaying the outbox (tools, tests of the API alone).
	DisableConsumers bool
	// WrapDriver, when set, wraps the database driver (statement logging,
	// query counting in tests).
	WrapDriver func(dialect.Driver) dialect.Driver
}
