// Package jobs registers the service's scheduled work with an in-process
// cron. Every replica runs the scheduler; each due run is claimed once
// (through Redis when replicas share one, trivially in the embedded mode),
// and every job is idempotent, so a run that happens twice does no harm.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/timeline"
)

// Job is one unit of scheduled work.
type Job func(ctx context.Context) error

// Scheduler runs jobs on their schedules.
type Scheduler struct {
	cron   *cron.Cron
	redis  *redis.Client
	prefix string
	log    *slog.Logger
	now    func() time.Time
}

// New returns a scheduler; rdb may be nil (single replica).
func New(rdb *redis.Client, prefix string, log *slog.Logger) *Scheduler {
	return &Scheduler{cron: cron.New(cron.WithLocation(time.UTC)), redis: rdb, prefix: prefix, log: log,
		now: func() time.Time { return time.Now().UTC() }}
}

// Add registers a job under a name with a cron spec (UTC). Each scheduled
// run is claimed by one replica only.
func (s *Scheduler) Add(name, spec string, timeout time.Duration, job Job) error {
	_, err := s.cron.AddFunc(spec, func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		slot := s.now().Truncate(time.Minute).Format("200601021504")
		if !s.claim(ctx, name, slot, timeout) {
			return
		}
		start := time.Now()
		if err := job(ctx); err != nil {
			s.log.Error("scheduled job failed", "job", name, "err", err)
			return
		}
		s.log.Info("scheduled job done", "job", name, "took", time.Since(start).Round(time.Millisecond))
	})
	return err
}

func (s *Scheduler) claim(ctx context.Context, name, slot string, ttl time.Duration) bool {
	if s.redis == nil {
		return true
	}
	ok, err := s.redis.SetNX(ctx, s.prefix+"rapport:job:"+name+":"+slot, "1", ttl+time.Minute).Result()
	if err != nil {
		// Redis down: run anyway; the jobs are idempotent.
		s.log.Warn("claim scheduled job", "job", name, "err", err)
		return true
	}
	return ok
}

// Start begins running the schedules; Stop ends them and waits for running
// jobs.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop stops the scheduler and waits for running jobs to finish.
func (s *Scheduler) Stop() { <-s.cron.Stop().Done() }

// WindowCounts returns the job that ages timeline entries out of every
// organization's 30-day activity and booking counts.
func WindowCounts(client *ent.Client, dialectName string, log *slog.Logger) Job {
	return func(ctx context.Context) error {
		orgs, err := client.Organization.Query().IDs(tenancy.WithSystem(ctx))
		if err != nil {
			return err
		}
		for _, id := range orgs {
			n, err := timeline.RecomputeWindowCounts(ctx, client, dialectName, id, time.Now())
			if err != nil {
				return err
			}
			if n > 0 {
				log.Info("30-day counts updated", "organization", id, "profiles", n)
			}
		}
		return nil
	}
}
