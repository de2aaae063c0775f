// Package followup runs the work that follows a change to profiles, after
// the change is committed: rescoring them and re-deciding their segment
// memberships. Changed profile ids are collected and coalesced for a short
// moment, then handed to each handler per organization in batches, off the
// path of the writer that changed them, so ingestion never waits for it.
// A follow-up lost to a crash is caught by the scheduled full recomputes.
package followup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/internal/ctxtime"
)

// Handler does follow-up work for changed profiles of one organization.
type Handler struct {
	Name string
	Fn   func(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) error
}

// Queue collects changed profiles and runs the handlers on them.
type Queue struct {
	handlers []Handler
	delay    time.Duration
	batch    int
	burst    time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	pending map[uuid.UUID]map[uuid.UUID]struct{}
	wake    chan struct{}
	idle    *sync.Cond
	busy    bool
}

// New returns a queue that runs the handlers in order, delay after the
// first change it sees (so a burst is handled together), on at most batch
// profiles at a time.
func New(log *slog.Logger, delay time.Duration, batch int, handlers ...Handler) *Queue {
	if log == nil {
		log = slog.Default()
	}
	q := &Queue{handlers: handlers, delay: delay, batch: batch, burst: defaultBurst, log: log,
		pending: map[uuid.UUID]map[uuid.UUID]struct{}{}, wake: make(chan struct{}, 1)}
	q.idle = sync.NewCond(&q.mu)
	return q
}

// Add records that the profiles changed. It never blocks.
func (q *Queue) Add(tenantID uuid.UUID, ids ...uuid.UUID) {
	if len(ids) == 0 {
		return
	}
	q.mu.Lock()
	set := q.pending[tenantID]
	if set == nil {
		set = map[uuid.UUID]struct{}{}
		q.pending[tenantID] = set
	}
	for _, id := range ids {
		set[id] = struct{}{}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run handles changes until ctx ends, one batch of one organization's
// profiles per round. The follow-up works on a budget: it earns share
// seconds of work per second of wall time, up to burst, and a round spends
// what it took; a round that overdraws the budget is followed by a rest
// until it is paid back. Under a sustained burst of changes (a backfill,
// peak ingestion) the follow-up so takes at most share of a worker's time,
// round by round, and profiles changed again while they wait are followed
// up once, instead of competing with the writers it follows; after a quiet
// spell one slow round (a cold cache, a first measurement) does not hold
// back the next change's follow-up, which real-time segment membership
// waits for.
func (q *Queue) Run(ctx context.Context) error {
	b := newBudget(share, q.burst, time.Now())
	for {
		if !q.hasPending() {
			// Idle: wait for a change, then a moment for the burst it
			// starts to gather.
			select {
			case <-ctx.Done():
				return nil
			case <-q.wake:
			}
			if !ctxtime.Sleep(ctx, q.delay) {
				return nil
			}
		}
		if !ctxtime.Sleep(ctx, b.rest(time.Now())) {
			return nil
		}
		start := time.Now()
		_ = q.round(ctx) // logged; the scheduled recomputes catch up
		b.spend(start, time.Now())
	}
}

// round handles one batch of one organization's pending profiles.
func (q *Queue) round(ctx context.Context) error {
	q.mu.Lock()
	for q.busy {
		q.idle.Wait()
	}
	var (
		tenantID uuid.UUID
		ids      []uuid.UUID
	)
	for t, set := range q.pending {
		tenantID = t
		for id := range set {
			if len(ids) == q.batch {
				break
			}
			ids = append(ids, id)
			delete(set, id)
		}
		if len(set) == 0 {
			delete(q.pending, t)
		}
		break
	}
	if len(ids) == 0 {
		q.mu.Unlock()
		return nil
	}
	q.busy = true
	q.mu.Unlock()
	defer q.done()
	return q.handle(ctx, tenantID, ids)
}

// done ends a round or flush and wakes a Flush waiting for it.
func (q *Queue) done() {
	q.mu.Lock()
	q.busy = false
	q.idle.Broadcast()
	q.mu.Unlock()
}

// handle runs every handler on one batch; a failed step is logged and
// returned, and the later steps still run.
func (q *Queue) handle(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) error {
	var errs []error
	for _, h := range q.handlers {
		if err := h.Fn(ctx, tenantID, ids); err != nil && ctx.Err() == nil {
			q.log.Warn("follow-up of changed profiles failed; the scheduled recompute will catch up",
				"step", h.Name, "organization", tenantID, "profiles", len(ids), "err", err)
			errs = append(errs, fmt.Errorf("%s of %d profiles: %w", h.Name, len(ids), err))
		}
	}
	return errors.Join(errs...)
}

// share bounds the follow-up to about a third of the time of one worker
// under sustained load; burst is the work it may do at once after a quiet
// spell beyond that share.
const (
	share        = 1.0 / 3
	defaultBurst = time.Second
)

// budget is the follow-up's allowance of work time, a token bucket filled
// at rate per second of wall time up to burst.
type budget struct {
	rate  float64
	burst time.Duration
	left  time.Duration // may be negative: overdrawn by the last round
	at    time.Time     // when left was last brought up to date
}

func newBudget(rate float64, burst time.Duration, now time.Time) *budget {
	return &budget{rate: rate, burst: burst, left: burst, at: now}
}

// earn credits the wall time since the last update.
func (b *budget) earn(now time.Time) {
	if now.After(b.at) {
		b.left = min(b.burst, b.left+time.Duration(b.rate*float64(now.Sub(b.at))))
		b.at = now
	}
}

// rest is how long to wait at now before the budget is no longer overdrawn.
func (b *budget) rest(now time.Time) time.Duration {
	b.earn(now)
	if b.left >= 0 {
		return 0
	}
	return time.Duration(float64(-b.left) / b.rate)
}

// spend charges a round of work that ran from start to end (earning, as
// any wall time does, while it ran).
func (b *budget) spend(start, end time.Time) {
	b.earn(start)
	b.left -= end.Sub(start)
	b.earn(end)
}

// hasPending reports whether any profile waits; emptied organizations are
// removed from pending, so it is a length check.
func (q *Queue) hasPending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) > 0
}

// Pending returns how many profiles wait for their follow-up.
func (q *Queue) Pending() int {
	n := 0
	for _, c := range q.PendingByTenant() {
		n += c
	}
	return n
}

// PendingByTenant returns how many profiles of each organization wait.
func (q *Queue) PendingByTenant() map[uuid.UUID]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[uuid.UUID]int, len(q.pending))
	for tenantID, set := range q.pending {
		out[tenantID] = len(set)
	}
	return out
}

// Drop forgets the organization's pending profiles, for a caller that
// follows them all up another way (a full recompute).
func (q *Queue) Drop(tenantID uuid.UUID) {
	q.mu.Lock()
	delete(q.pending, tenantID)
	q.mu.Unlock()
}

// Flush handles everything pending now, batch after batch without rest:
// for one-shot commands such as an import, when their writes are done. A
// failed step is logged and returned, and the other batches still run: the
// scheduled recomputes catch up on what failed.
func (q *Queue) Flush(ctx context.Context) error {
	q.mu.Lock()
	for q.busy {
		q.idle.Wait()
	}
	work := q.pending
	q.pending = map[uuid.UUID]map[uuid.UUID]struct{}{}
	q.busy = true
	q.mu.Unlock()
	defer q.done()
	var errs []error
	for tenantID, set := range work {
		ids := make([]uuid.UUID, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		for len(ids) > 0 {
			n := min(len(ids), q.batch)
			if err := q.handle(ctx, tenantID, ids[:n]); err != nil {
				errs = append(errs, err)
			}
			ids = ids[n:]
		}
	}
	return errors.Join(errs...)
}

// Hub is where live updates go: the service's in-process or Redis hub.
type Hub interface {
	Publish(ctx context.Context, topic string, msg []byte) error
	CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID)
}

// Notifier passes profile changes on to the hub and to the queue, so the
// edits made through the API are followed up like ingested ones.
type Notifier struct {
	Next  Hub
	Queue *Queue
}

// Publish passes a live update on to the hub.
func (n Notifier) Publish(ctx context.Context, topic string, msg []byte) error {
	return n.Next.Publish(ctx, topic, msg)
}

// CustomerChanged tells the next notifier and queues the follow-up.
func (n Notifier) CustomerChanged(ctx context.Context, tenantID, customerID uuid.UUID) {
	n.Next.CustomerChanged(ctx, tenantID, customerID)
	n.Queue.Add(tenantID, customerID)
}
