package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LocalOptions configures a Local bus; zero fields take the defaults.
type LocalOptions struct {
	// Batch is the most messages per handler call (default 500).
	Batch int
	// MaxDeliveries is how many failed deliveries make a message dead
	// (default 5).
	MaxDeliveries int64
	// RetryBackoff is the wait before the first retry; it doubles per
	// delivery up to MaxBackoff (defaults 1s and 1m).
	RetryBackoff, MaxBackoff time.Duration
	// QueueSize bounds the messages waiting for the handler (default
	// 10,000); Submit blocks when it is full, pushing back on the producer.
	QueueSize int
	// DeadKeep is how many dead letters Dead remembers (default 1,000).
	DeadKeep int
	// DrainTimeout bounds the final handling on shutdown (default 10s).
	DrainTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Handler is required.
	Handler Handler
}

// Local is the embedded mode's in-process bus: the same Handler contract as
// RedisConsumer, without durability (what is queued when the process dies is
// gone, which the embedded single-process mode accepts).
type Local struct {
	o     LocalOptions
	log   *slog.Logger
	queue chan Message
	seq   atomic.Int64

	// mu guards closed; Submit holds it shared while enqueueing so that
	// once Run holds it exclusively nothing can be added behind the drain.
	mu       sync.RWMutex
	closed   bool
	stopping chan struct{}
	stopOnce sync.Once
	running  atomic.Bool

	deadMu sync.Mutex
	dead   []DeadLetter // ring of the last DeadKeep
	next   int

	processed, acked, nDead, retried atomic.Int64
}

// NewLocal checks the options and fills in defaults.
func NewLocal(o LocalOptions) (*Local, error) {
	if o.Handler == nil {
		return nil, errors.New("bus: LocalOptions.Handler is required")
	}
	o.Batch = orDefault(o.Batch, DefaultBatch)
	o.MaxDeliveries = orDefault(o.MaxDeliveries, DefaultMaxDeliveries)
	o.RetryBackoff = orDefault(o.RetryBackoff, time.Second)
	o.MaxBackoff = orDefault(o.MaxBackoff, time.Minute)
	o.QueueSize = orDefault(o.QueueSize, 10_000)
	o.DeadKeep = orDefault(o.DeadKeep, 1000)
	o.DrainTimeout = orDefault(o.DrainTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Local{
		o:        o,
		log:      o.Logger.With("component", "bus.local"),
		queue:    make(chan Message, o.QueueSize),
		stopping: make(chan struct{}),
	}, nil
}

// Submit enqueues bodies on stream, blocking while the queue is full. On an
// error the bodies before the failing one are already enqueued.
func (l *Local) Submit(ctx context.Context, stream string, bodies [][]byte) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10) + "-"
	for _, b := range bodies {
		m := Message{Stream: stream, ID: now + strconv.FormatInt(l.seq.Add(1), 10), Body: b}
		select {
		case l.queue <- m:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stopping:
			return ErrClosed
		}
	}
	return nil
}

// Stats returns the running totals; Reclaimed counts retries.
func (l *Local) Stats() Stats {
	return Stats{
		Processed: l.processed.Load(),
		Acked:     l.acked.Load(),
		Dead:      l.nDead.Load(),
		Reclaimed: l.retried.Load(),
	}
}

// Dead returns the most recent dead letters, oldest first.
func (l *Local) Dead() []DeadLetter {
	l.deadMu.Lock()
	defer l.deadMu.Unlock()
	out := make([]DeadLetter, 0, len(l.dead))
	if len(l.dead) < l.o.DeadKeep {
		return append(out, l.dead...)
	}
	out = append(out, l.dead[l.next:]...)
	return append(out, l.dead[:l.next]...)
}

func (l *Local) addDead(m Message, reason string) {
	l.nDead.Add(1)
	l.log.Error("bus: message is dead", "stream", m.Stream, "id", m.ID, "deliveries", m.Deliveries, "reason", reason)
	d := DeadLetter{Message: m, Reason: reason, At: time.Now().UTC()}
	l.deadMu.Lock()
	defer l.deadMu.Unlock()
	if len(l.dead) < l.o.DeadKeep {
		l.dead = append(l.dead, d)
		return
	}
	l.dead[l.next] = d
	l.next = (l.next + 1) % l.o.DeadKeep
}

type retry struct {
	due time.Time
	msg Message
}

// Run handles messages until ctx is done, then stops accepting new ones,
// gives everything already accepted (retries included, without waiting for
// their backoff) one more delivery, records what still fails as dead, and
// returns nil.
func (l *Local) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("bus: local bus already running")
	}
	var retries []retry
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, rest := dueRetries(retries, time.Now(), l.o.Batch)
		retries = rest
		if len(batch) == 0 {
			wait := time.Hour
			if len(retries) > 0 {
				wait = time.Until(earliest(retries))
			}
			timer.Reset(max(wait, 0))
			select {
			case <-ctx.Done():
				return l.drain(ctx, retries)
			case <-timer.C:
				continue
			case m := <-l.queue:
				batch = append(batch, m)
			}
		}
	fill:
		for len(batch) < l.o.Batch {
			select {
			case m := <-l.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		retries = append(retries, l.deliver(ctx, batch, false)...)
	}
}

func dueRetries(rs []retry, now time.Time, n int) ([]Message, []retry) {
	var due []Message
	kept := rs[:0]
	for _, r := range rs {
		if len(due) < n && !r.due.After(now) {
			due = append(due, r.msg)
			continue
		}
		kept = append(kept, r)
	}
	return due, kept
}

func earliest(rs []retry) time.Time {
	t := rs[0].due
	for _, r := range rs[1:] {
		if r.due.Before(t) {
			t = r.due
		}
	}
	return t
}

// deliver hands a batch to the handler and returns the messages to retry.
// final marks the shutdown delivery, after which nothing is retried.
func (l *Local) deliver(ctx context.Context, batch []Message, final bool) []retry {
	for i := range batch {
		if batch[i].Deliveries > 0 {
			l.retried.Add(1)
		}
		batch[i].Deliveries++
	}
	outs := handle(ctx, l.o.Handler, batch, l.log)
	l.processed.Add(int64(len(batch)))
	var again []retry
	for i, o := range outs {
		m := batch[i]
		switch {
		case o.Err == nil:
			l.acked.Add(1)
		case o.Dead:
			l.addDead(m, o.Err.Error())
		case m.Deliveries >= l.o.MaxDeliveries:
			l.addDead(m, fmt.Sprintf("failed %d deliveries: %v", m.Deliveries, o.Err))
		case final:
			l.addDead(m, fmt.Sprintf("shutting down after %d deliveries: %v", m.Deliveries, o.Err))
		default:
			d := l.o.RetryBackoff << min(m.Deliveries-1, 20)
			again = append(again, retry{due: time.Now().Add(min(d, l.o.MaxBackoff)), msg: m})
		}
	}
	return again
}

func (l *Local) drain(ctx context.Context, retries []retry) error {
	l.stopOnce.Do(func() { close(l.stopping) })
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.o.DrainTimeout)
	defer cancel()
	pending := make([]Message, 0, len(retries)+len(l.queue))
	for _, r := range retries {
		pending = append(pending, r.msg)
	}
	for {
		select {
		case m := <-l.queue:
			pending = append(pending, m)
			continue
		default:
		}
		break
	}
	if len(pending) > 0 {
		l.log.Info("bus: draining local bus", "messages", len(pending))
	}
	for len(pending) > 0 {
		n := min(len(pending), l.o.Batch)
		l.deliver(dctx, pending[:n], true)
		pending = pending[n:]
	}
	return nil
}
