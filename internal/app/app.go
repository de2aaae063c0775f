package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/graph"
	"github.com/rapportcrm/rapport/internal/apikey"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/bus"
	"github.com/rapportcrm/rapport/internal/customer"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/followup"
	"github.com/rapportcrm/rapport/internal/ingest"
	"github.com/rapportcrm/rapport/internal/merge"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/outbox"
	"github.com/rapportcrm/rapport/internal/pubsub"
	"github.com/rapportcrm/rapport/internal/scoring"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/timeline"
	"github.com/rapportcrm/rapport/jobs"
	"github.com/rapportcrm/rapport/resolvers"
)

// App is a running (or ready to run) Rapport service.
type App struct {
	cfg       Config
	log       *slog.Logger
	DB        *database.DB
	Redis     *redis.Client
	Customers *customer.Service
	Broker    *pubsub.Broker
	Timeline  *timeline.Service
	APIKeys   *apikey.Service
	Ingest    *ingest.Pipeline
	Segments  *segment.Service
	Scores    *scoring.Service
	// Followup rescores and re-segments profiles after they change.
	Followup  *followup.Queue
	hub       hub
	redisHub  *pubsub.RedisHub
	relay     *outbox.Relay
	consumers []*bus.RedisConsumer
	jobs      *jobs.Scheduler
	stopBg    context.CancelFunc
	bg        sync.WaitGroup
	handler   http.Handler
	server    *http.Server
	listener  net.Listener
	done      chan error
}

// New connects to the database (applying migrations) and to Redis when
// configured, and builds the HTTP handler. It does not listen yet.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	verifier, err := buildVerifier(cfg)
	if err != nil {
		return nil, err
	}
	var dbOpts []database.Option
	if cfg.WrapDriver != nil {
		dbOpts = append(dbOpts, database.WithDriverWrapper(cfg.WrapDriver))
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.DataDir, dbOpts...)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: cfg.Logger, DB: db}
	applied, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		a.log.Info("applied migrations", "versions", applied)
	}
	db.Client.Use(audit.Hook())
	if cfg.RedisURL != "" {
		if a.Redis, err = ConnectRedis(ctx, cfg.RedisURL); err != nil {
			db.Close()
			return nil, err
		}
	}
	a.Broker = pubsub.NewBroker(32)
	if a.Redis != nil {
		// Live updates cross replicas through Redis; each replica's
		// subscribers are served from its local broker.
		hub, err := pubsub.NewRedisHub(pubsub.RedisHubOptions{Client: a.Redis, Broker: a.Broker, Logger: a.log,
			Prefix: cfg.RedisPrefix + pubsub.DefaultRedisPrefix})
		if err != nil {
			a.Close(ctx)
			return nil, err
		}
		a.hub, a.redisHub = hub, hub
	} else {
		a.hub = pubsub.NewLocalHub(a.Broker)
	}
	var outPub outbox.Publisher = outbox.NewLocalPublisher(a.log)
	if a.Redis != nil {
		rp := outbox.NewRedisPublisher(a.Redis)
		rp.Stream = cfg.RedisPrefix + rp.Stream
		outPub = rp
	}
	a.relay, err = outbox.NewRelay(outbox.RelayOptions{Client: db.Client, Dialect: db.Dialect, Publisher: outPub, Logger: a.log})
	if err != nil {
		a.Close(ctx)
		return nil, err
	}
	a.Segments = segment.NewService(db.Client, db.Dialect, a.hub, segment.OnOutbox(a.relay.Notify), segment.WithLogger(a.log))
	a.Scores = scoring.NewService(db.Client, db.Dialect, scoring.OnOutbox(a.relay.Notify))
	a.Followup = followup.New(a.log, 200*time.Millisecond, FollowupBatch, FollowupHandlers(a.Scores, a.Segments)...)
	notifier := followup.Notifier{Next: a.hub, Queue: a.Followup}
	a.Customers = customer.NewService(db.Client, db.Dialect, notifier)
	orgs := organization.NewResolver(db.Client)
	a.Timeline = timeline.NewService(db.Client, notifier)
	a.APIKeys = apikey.NewService(db.Client)
	a.Ingest = ingest.New(ingest.Config{Client: db.Client, Dialect: db.Dialect, Orgs: orgs, Publisher: a.hub,
		OutboxWritten: a.relay.Notify, ProfilesChanged: func(t uuid.UUID, ids []uuid.UUID) { a.Followup.Add(t, ids...) }, Logger: a.log})
	if a.Redis != nil && !cfg.DisableConsumers {
		// Several consumers per replica keep the database busy while one
		// of them waits on Redis or decodes; each is a member of the group.
		// make bench on 2 cores (1.2M profiles, 23M timeline entries, the
		// rescoring follow-up running, PostgreSQL with 6 GB of buffers):
		// 3 consumers of 1,000-entry batches did 7,200 to 11,400 events/s
		// across runs; 2, 4 and 6 consumers and 300- or 500-entry batches
		// did no better within that spread (smaller batches: lower latency).
		workers := cfg.EventWorkers
		if workers <= 0 {
			workers = 3
		}
		batch := cfg.EventBatch
		if batch <= 0 {
			batch = 1000
		}
		host, _ := os.Hostname()
		base := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
		for i := range workers {
			c, err := bus.NewRedisConsumer(bus.RedisOptions{
				Client: a.Redis, Consumer: fmt.Sprintf("%s-%d", base, i), Batch: batch,
				Streams:   []string{cfg.RedisPrefix + bus.StreamSCL, cfg.RedisPrefix + bus.StreamTeeTime, cfg.RedisPrefix + bus.StreamMessaging},
				ClaimIdle: cfg.EventClaimIdle, MaxDeliveries: cfg.EventMaxDeliveries,
				DeadStream: cfg.RedisPrefix + bus.DefaultDead, Logger: a.log, Handler: ingestHandler(a.Ingest),
			})
			if err != nil {
				a.Close(ctx)
				return nil, err
			}
			a.consumers = append(a.consumers, c)
		}
	}
	a.jobs = jobs.New(a.Redis, cfg.RedisPrefix, a.log)
	if err := a.jobs.Add("window-counts", "17 * * * *", 30*time.Minute, jobs.WindowCounts(db.Client, db.Dialect, a.log)); err != nil {
		a.Close(ctx)
		return nil, err
	}
	if err := a.jobs.Add("nightly-scores", "*/15 * * * *", 45*time.Minute, jobs.NightlyScores(db.Client, a.Scores, a.log)); err != nil {
		a.Close(ctx)
		return nil, err
	}
	if err := a.jobs.Add("segments-refresh", "37 * * * *", 50*time.Minute, jobs.RefreshSegments(db.Client, a.Segments, a.log)); err != nil {
		a.Close(ctx)
		return nil, err
	}
	metrics := graph.NewMetrics()
	a.handler = graph.NewServer(graph.ServerConfig{
		Resolvers: resolvers.New(resolvers.Deps{
			Client: db.Client, Dialect: db.Dialect, Customers: a.Customers, Timeline: a.Timeline, APIKeys: a.APIKeys,
			Merges: merge.NewService(db.Client, db.Dialect, notifier), Segments: a.Segments, Scores: a.Scores, Hub: a.hub,
		}),
		APIKeys:        a.APIKeys,
		Events:         a.Ingest,
		Verifier:       verifier,
		Orgs:           orgs,
		Logger:         a.log,
		Ready:          a.ready,
		Metrics:        metrics,
		AllowedOrigins: cfg.AllowedOrigins,
	})
	return a, nil
}

func buildVerifier(cfg Config) (auth.Verifier, error) {
	// Issuer and audience are the identity provider's: they apply to
	// JWKS-verified tokens, not to tokens Rapport issues itself.
	opts := []auth.Option{auth.WithLeeway(30 * time.Second), auth.WithLogger(cfg.Logger)}
	if cfg.JWTIssuer != "" {
		opts = append(opts, auth.WithIssuer(cfg.JWTIssuer))
	}
	if cfg.JWTAudience != "" {
		opts = append(opts, auth.WithAudience(cfg.JWTAudience))
	}
	var vs []auth.Verifier
	if len(cfg.JWTSecret) > 0 {
		vs = append(vs, auth.NewHS256Verifier(cfg.JWTSecret, auth.WithLeeway(30*time.Second)))
	}
	if cfg.JWKSURL != "" {
		vs = append(vs, auth.NewJWKSVerifier(cfg.JWKSURL, &http.Client{Timeout: 10 * time.Second}, opts...))
	}
	if len(vs) == 0 {
		return nil, errors.New("no way to verify tokens: set RAPPORT_JWT_SECRET or RAPPORT_JWKS_URL (or run with --dev)")
	}
	if len(vs) == 1 {
		return vs[0], nil
	}
	return auth.NewMultiVerifier(vs...), nil
}

func (a *App) ready(ctx context.Context) error {
	if err := a.DB.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if a.Redis != nil {
		if err := a.Redis.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	return nil
}

// hub is where live updates are published and subscribed: in-process, or
// through Redis across replicas.
type hub interface {
	Publish(ctx context.Context, topic string, msg []byte) error
	Subscribe(topic string) (<-chan []byte, func())
	CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID)
}

// ingestHandler adapts the ingestion pipeline to the stream consumer:
// processed and duplicate events are acknowledged, invalid ones
// dead-lettered with their reason, failed ones left pending for a retry.
func ingestHandler(p *ingest.Pipeline) bus.Handler {
	return func(ctx context.Context, msgs []bus.Message) []bus.Outcome {
		raws := make([][]byte, len(msgs))
		for i, m := range msgs {
			raws[i] = m.Body
		}
		out := make([]bus.Outcome, len(msgs))
		for i, r := range p.Process(ctx, raws) {
			switch r.Status {
			case ingest.Rejected:
				out[i] = bus.Outcome{Err: errors.New(r.Reason), Dead: true}
			case ingest.Failed:
				out[i] = bus.Outcome{Err: r.Err}
			}
		}
		return out
	}
}

// startBackground runs the consumers of this replica: the Redis pub/sub
// subscription, the outbox relay and the event stream consumer.
func (a *App) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopBg = cancel
	run := func(name string, fn func(context.Context) error) {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("background worker stopped", "worker", name, "err", err)
			}
		}()
	}
	if a.redisHub != nil {
		run("pubsub", a.redisHub.Run)
	}
	if a.relay != nil && !a.cfg.DisableConsumers {
		run("outbox", a.relay.Run)
	}
	run("followup", a.Followup.Run)
	for _, c := range a.consumers {
		run("events", c.Run)
	}
	if !a.cfg.DisableConsumers {
		a.jobs.Start()
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			<-ctx.Done()
			a.jobs.Stop()
		}()
	}
}

// Consumers are the Redis stream consumers, none in the embedded mode.
func (a *App) Consumers() []*bus.RedisConsumer { return a.consumers }

// Handler is the service's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Start listens on the configured address and serves in the background.
func (a *App) Start() error {
	l, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	a.listener = l
	a.server = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.done = make(chan error, 1)
	a.startBackground()
	if a.redisHub != nil {
		// Subscriptions accepted before the hub listens would miss updates.
		select {
		case <-a.redisHub.Ready():
		case <-time.After(5 * time.Second):
			a.log.Warn("redis pub/sub not ready after 5s; live updates may be delayed")
		}
	}
	go func() {
		err := a.server.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.done <- err
	}()
	return nil
}

// Addr is the address the service listens on (useful with port 0).
func (a *App) Addr() string {
	if a.listener == nil {
		return a.cfg.Addr
	}
	return a.listener.Addr().String()
}

// Wait blocks until the server stops or ctx ends.
func (a *App) Wait(ctx context.Context) error {
	select {
	case err := <-a.done:
		return err
	case <-ctx.Done():
		return nil
	}
}

// Close stops serving (letting requests finish) and releases connections.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	if a.server != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := a.server.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if a.stopBg != nil {
		a.stopBg()
		a.bg.Wait()
	}
	if a.Redis != nil {
		errs = append(errs, a.Redis.Close())
	}
	if a.DB != nil {
		errs = append(errs, a.DB.Close())
	}
	return errors.Join(errs...)
}

// FollowupBatch is the most profiles one follow-up round hands to a step:
// rounds of 500 keep each rescoring statement, and the row locks it holds,
// short while writers run.
const FollowupBatch = 500

// FollowupHandlers are the steps that follow a change to profiles, in order:
// rescoring, then re-deciding dynamic segment memberships (they read the
// scores). The service runs them after every commit; rapport import after
// its rows are in.
func FollowupHandlers(scores *scoring.Service, segments *segment.Service) []followup.Handler {
	return []followup.Handler{
		{Name: "scores", Fn: func(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) error {
			_, err := scores.RecomputeProfiles(ctx, tenantID, ids)
			return err
		}},
		{Name: "segments", Fn: func(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) error {
			_, err := segments.Reevaluate(ctx, tenantID, ids)
			return err
		}},
	}
}
