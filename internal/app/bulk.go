package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/scorerun"
	"github.com/rapportcrm/rapport/internal/followup"
	"github.com/rapportcrm/rapport/internal/pubsub"
	"github.com/rapportcrm/rapport/internal/scoring"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// fullShare: when a bulk write changed at least 1/fullShare of an
// organization's profiles, one full recompute and refresh of the
// organization is cheaper than following the profiles up 500 at a time.
// Measured on 2 cores: a full score run costs ~31 µs per profile of the
// organization (1M in 31 s; 99,000 just imported in 4.1 s), rounds of
// 500 chosen profiles 100–480 µs per profile (175–240 ms a round for those
// 99,000: about 40 s for all of them).
const fullShare = 8

// BulkFollowup collects the profiles a one-shot bulk write (rapport
// import) creates or changes, and once the write is done rescores them and
// re-decides their dynamic segments, as the service does after each
// ingested batch.
type BulkFollowup struct {
	client   *ent.Client
	scores   *scoring.Service
	segments *segment.Service
	queue    *followup.Queue
}

// BulkResult is what a BulkFollowup did.
type BulkResult struct {
	// Profiles is how many changed profiles were followed up.
	Profiles int
	// FullRuns is how many organizations were rescored and refreshed in
	// full instead of profile by profile.
	FullRuns int
}

// NewBulkFollowup returns a follow-up over the database's client. Segment
// changes go to the outbox (relayed by the service) and, when pub is not
// nil, to live subscribers through it (the service replicas' Redis hub).
func NewBulkFollowup(client *ent.Client, dialect string, pub segment.Publisher) *BulkFollowup {
	b := &BulkFollowup{client: client, scores: scoring.NewService(client, dialect), segments: segment.NewService(client, dialect, pub)}
	// Failures are returned by Run; the queue need not log them too.
	b.queue = followup.New(slog.New(slog.NewTextHandler(io.Discard, nil)), 0, FollowupBatch, FollowupHandlers(b.scores, b.segments)...)
	return b
}

// Add records that the profiles changed (ingest.Config.ProfilesChanged).
func (b *BulkFollowup) Add(tenantID uuid.UUID, ids []uuid.UUID) { b.queue.Add(tenantID, ids...) }

// Pending returns how many profiles wait for Run.
func (b *BulkFollowup) Pending() int { return b.queue.Pending() }

// Run follows up everything collected: per organization, a full score run
// and refresh of its rule segments when the write changed a large share of
// it, the changed profiles in rounds otherwise. A failure leaves the rest to
// the scheduled recomputes and is returned.
func (b *BulkFollowup) Run(ctx context.Context) (BulkResult, error) {
	var res BulkResult
	var errs []error
	for tenantID, n := range b.queue.PendingByTenant() {
		res.Profiles += n
		if n < FollowupBatch {
			continue
		}
		total, err := b.client.CustomerProfile.Query().Count(tenancy.WithTenant(ctx, tenantID))
		if err != nil {
			errs = append(errs, fmt.Errorf("count profiles of %s: %w", tenantID, err))
			continue
		}
		if n*fullShare < total {
			continue
		}
		b.queue.Drop(tenantID)
		res.FullRuns++
		if _, err := b.scores.RecomputeAll(ctx, tenantID, scorerun.TriggerMANUAL); err != nil {
			errs = append(errs, err)
		}
		if _, err := b.segments.RefreshAll(ctx, tenantID); err != nil {
			errs = append(errs, fmt.Errorf("refresh segments of %s: %w", tenantID, err))
		}
	}
	if err := b.queue.Flush(ctx); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// RedisPublisher connects to Redis at url and returns a publisher to the
// service replicas' live subscribers, for one-shot commands, and the
// function that closes it.
func RedisPublisher(ctx context.Context, url string) (*pubsub.RedisHub, func() error, error) {
	client, err := ConnectRedis(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	// Publishing only: the hub's Run (which subscribes) is never started.
	hub, err := pubsub.NewRedisHub(pubsub.RedisHubOptions{Client: client, Prefix: pubsub.DefaultRedisPrefix})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return hub, client.Close, nil
}

// ConnectRedis opens a client on RAPPORT_REDIS_URL and checks that Redis
// answers.
func ConnectRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse RAPPORT_REDIS_URL: %w", err)
	}
	client := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return client, nil
}
