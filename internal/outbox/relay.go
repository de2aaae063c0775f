package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/outboxevent"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// Publisher delivers a batch of events, in order, or fails as a whole.
type Publisher interface {
	Publish(ctx context.Context, events []Envelope) error
}

// RelayOptions configures a Relay; zero fields take the defaults.
type RelayOptions struct {
	// Client is required.
	Client *ent.Client
	// Dialect is dialect.Postgres ("postgres") or dialect.SQLite ("sqlite3").
	Dialect string
	// Publisher is required.
	Publisher Publisher
	// Batch is the most events per publish (default 500).
	Batch int
	// Interval is how often the table is polled without a Notify
	// (default 1s); it is also the first backoff after a failed publish.
	Interval time.Duration
	// MaxBackoff caps the wait between failed publishes (default 1m).
	MaxBackoff time.Duration
	// PublishTimeout bounds one publish, which holds the batch's row locks
	// (default 30s).
	PublishTimeout time.Duration
	// Retention is how long published rows are kept before Run prunes them
	// (default 7 days; negative disables pruning).
	Retention time.Duration
	// PruneEvery is how often Run prunes (default 1h).
	PruneEvery time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Relay publishes committed outbox rows in id order and marks them
// published. Several replicas may run one each: on PostgreSQL a batch is
// claimed with FOR UPDATE SKIP LOCKED, so each row is published by one of
// them; on SQLite the single writer serializes them.
//
// Order holds within a batch and, with one relay, across batches; with
// several replicas, batches are published concurrently.
type Relay struct {
	o      RelayOptions
	log    *slog.Logger
	notify chan struct{}
}

// NewRelay checks the options and fills in defaults.
func NewRelay(o RelayOptions) (*Relay, error) {
	if o.Client == nil || o.Publisher == nil {
		return nil, errors.New("outbox: RelayOptions.Client and Publisher are required")
	}
	if o.Dialect != dialect.Postgres && o.Dialect != dialect.SQLite {
		return nil, fmt.Errorf("outbox: unsupported dialect %q", o.Dialect)
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	o.Interval = positive(o.Interval, time.Second)
	o.MaxBackoff = positive(o.MaxBackoff, time.Minute)
	o.PublishTimeout = positive(o.PublishTimeout, 30*time.Second)
	if o.Retention == 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	o.PruneEvery = positive(o.PruneEvery, time.Hour)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Relay{o: o, log: o.Logger.With("component", "outbox"), notify: make(chan struct{}, 1)}, nil
}

func positive(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Notify wakes the relay without blocking; writers call it after commit so
// events go out at once rather than at the next interval.
func (r *Relay) Notify() {
	select {
	case r.notify <- struct{}{}:
	default: // a wake-up is already pending; it will see this row too
	}
}

// NotifyOnCommit arranges for Notify to run when tx commits successfully,
// so a writer cannot wake the relay before its rows are visible.
func (r *Relay) NotifyOnCommit(tx *ent.Tx) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				r.Notify()
			}
			return err
		})
	})
}

// Run relays until ctx is done, then returns nil. Publish and database
// errors are logged and retried with backoff: the rows stay first in line,
// so nothing is skipped or reordered while the bus is down.
func (r *Relay) Run(ctx context.Context) error {
	bo := struct{ cur time.Duration }{}
	// Since Go 1.23 Reset and Stop need no draining of the channel.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextPrune := time.Now()
	for {
		n, err := r.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if r.o.Retention > 0 && !time.Now().Before(nextPrune) {
			if _, perr := r.Prune(ctx, r.o.Retention); perr != nil && ctx.Err() == nil {
				r.log.Warn("outbox: prune failed", "err", perr)
			}
			nextPrune = time.Now().Add(r.o.PruneEvery)
		}
		if err != nil {
			if bo.cur == 0 {
				bo.cur = r.o.Interval
			} else {
				bo.cur = min(2*bo.cur, r.o.MaxBackoff)
			}
			r.log.Warn("outbox: relay failed, backing off", "err", err, "retry_in", bo.cur)
			// A Notify must not cut the backoff short, or a busy writer
			// would hammer a bus that is down.
			timer.Reset(bo.cur)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			continue
		}
		bo.cur = 0
		if n == r.o.Batch {
			continue // a backlog: keep going
		}
		timer.Reset(r.o.Interval)
		select {
		case <-ctx.Done():
			return nil
		case <-r.notify:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// Step claims, publishes and marks one batch of unpublished rows in id
// order and returns how many it published. A failed publish counts an
// attempt and records the error on every row of the batch, leaving them
// unpublished.
func (r *Relay) Step(ctx context.Context) (n int, err error) {
	ctx = tenancy.WithSystem(ctx)
	tx, err := r.o.Client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	q := tx.OutboxEvent.Query().
		Where(outboxevent.PublishedAtIsNil()).
		Order(outboxevent.ByID()).
		Limit(r.o.Batch)
	if r.o.Dialect == dialect.Postgres {
		// Rows another replica is publishing are skipped, not waited for.
		q = q.ForUpdate(sql.WithLockAction(sql.SkipLocked))
	}
	rows, err := q.All(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: claim: %w", err)
	}
	if len(rows) == 0 {
		return 0, tx.Rollback()
	}
	ids := make([]uuid.UUID, 0, len(rows))
	envs := make([]Envelope, 0, len(rows))
	var bad []uuid.UUID
	var badErr error
	for _, row := range rows {
		var e Envelope
		if err := json.Unmarshal(row.Payload, &e); err != nil {
			// Only tampering writes such a row; it must not block
			// every event behind it.
			bad, badErr = append(bad, row.ID), err
			r.log.Error("outbox: skipping an undecodable event", "id", row.ID, "type", row.Type, "err", err)
			continue
		}
		ids = append(ids, row.ID)
		envs = append(envs, e)
	}
	now := time.Now().UTC()
	if len(bad) > 0 {
		if err := tx.OutboxEvent.Update().Where(outboxevent.IDIn(bad...)).
			SetPublishedAt(now).AddAttempts(1).SetLastError(truncate("not published: invalid envelope: " + badErr.Error())).
			Exec(ctx); err != nil {
			return 0, fmt.Errorf("outbox: set aside invalid rows: %w", err)
		}
	}
	if len(envs) > 0 {
		pctx, cancel := context.WithTimeout(ctx, r.o.PublishTimeout)
		perr := r.o.Publisher.Publish(pctx, envs)
		cancel()
		if perr != nil {
			if err := tx.OutboxEvent.Update().Where(outboxevent.IDIn(ids...)).
				AddAttempts(1).SetLastError(truncate(perr.Error())).
				Exec(ctx); err != nil {
				return 0, errors.Join(fmt.Errorf("outbox: publish: %w", perr), fmt.Errorf("outbox: record failure: %w", err))
			}
			if err := tx.Commit(); err != nil {
				return 0, errors.Join(fmt.Errorf("outbox: publish: %w", perr), fmt.Errorf("outbox: record failure: %w", err))
			}
			return 0, fmt.Errorf("outbox: publish %d events: %w", len(envs), perr)
		}
		if err := tx.OutboxEvent.Update().Where(outboxevent.IDIn(ids...)).
			SetPublishedAt(now).Exec(ctx); err != nil {
			return 0, fmt.Errorf("outbox: mark published: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		// Published but not marked: they go out again, and consumers
		// dedup on the event id.
		return 0, fmt.Errorf("outbox: commit: %w", err)
	}
	return len(envs), nil
}

// pruneChunk bounds one DELETE so pruning a large backlog never holds long
// locks.
const pruneChunk = 1000

// Prune deletes rows published more than olderThan ago and returns how many
// it deleted. Unpublished rows are never pruned, however old.
func (r *Relay) Prune(ctx context.Context, olderThan time.Duration) (int, error) {
	ctx = tenancy.WithSystem(ctx)
	cutoff := time.Now().UTC().Add(-olderThan)
	total := 0
	for {
		ids, err := r.o.Client.OutboxEvent.Query().
			Where(outboxevent.PublishedAtNotNil(), outboxevent.PublishedAtLT(cutoff)).
			Limit(pruneChunk).
			IDs(ctx)
		if err != nil {
			return total, fmt.Errorf("outbox: prune: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := r.o.Client.OutboxEvent.Delete().Where(outboxevent.IDIn(ids...)).Exec(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("outbox: prune: %w", err)
		}
		if len(ids) < pruneChunk {
			return total, nil
		}
	}
}

// truncate keeps an error within the last_error column's 2,000 characters.
func truncate(s string) string {
	const maxLen = 2000
	if len(s) <= maxLen {
		return s
	}
	r := []rune(s)
	if len(r) > maxLen {
		r = r[:maxLen]
	}
	return string(r)
}
