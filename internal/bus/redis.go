package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/ctxtime"
)

// Stream, group and field names the service and its producers agree on.
const (
	// StreamSCL is the input stream of SCL events.
	StreamSCL = "rapport:in:scl"
	// StreamTeeTime is the input stream of tee-time events.
	StreamTeeTime = "rapport:in:teetime"
	// StreamMessaging is the input stream of messaging events.
	StreamMessaging = "rapport:in:messaging"
	// DefaultGroup is the consumer group every replica joins.
	DefaultGroup = "rapport"
	// DefaultDead is the dead-letter stream.
	DefaultDead = "rapport:dead"
	// EventField is the entry field that holds the envelope JSON.
	EventField = "event"
)

// RedisOptions configures a RedisConsumer; zero fields take the defaults.
type RedisOptions struct {
	// Client is required.
	Client *redis.Client
	// Streams read (default the three input streams).
	Streams []string
	// Group is the consumer group shared by every replica (default "rapport").
	Group string
	// Consumer names this replica in the group (default hostname-pid-random,
	// so a restarted process never inherits a dead one's identity).
	Consumer string
	// Batch is the most entries read per stream per round (default 500).
	Batch int
	// Block is how long a read waits for new entries (default 1s).
	Block time.Duration
	// ClaimIdle is how long an entry stays pending before any consumer may
	// take it over (default 30s). It must exceed the slowest batch, or a live
	// consumer's work is taken over and done twice.
	ClaimIdle time.Duration
	// MaxDeliveries is how many failed deliveries send an entry to the dead
	// stream (default 5).
	MaxDeliveries int64
	// DeadStream receives poison entries (default "rapport:dead").
	DeadStream string
	// DeadMaxLen caps the dead stream, approximately (default 100,000), so a
	// poison storm cannot fill Redis's memory.
	DeadMaxLen int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Handler is required.
	Handler Handler
}

// RedisConsumer feeds entries of Redis streams to a Handler through a
// consumer group: replicas share the work, and entries a dead replica held
// are taken over after ClaimIdle.
type RedisConsumer struct {
	o           RedisOptions
	log         *slog.Logger
	claimEvery  time.Duration
	consumerTTL time.Duration
	running     atomic.Bool

	processed, acked, dead, reclaimed atomic.Int64
}

// NewRedisConsumer checks the options and fills in defaults.
func NewRedisConsumer(o RedisOptions) (*RedisConsumer, error) {
	if o.Client == nil {
		return nil, errors.New("bus: RedisOptions.Client is required")
	}
	if o.Handler == nil {
		return nil, errors.New("bus: RedisOptions.Handler is required")
	}
	if len(o.Streams) == 0 {
		o.Streams = []string{StreamSCL, StreamTeeTime, StreamMessaging}
	}
	o.Group = orDefault(o.Group, DefaultGroup)
	if o.Consumer == "" {
		o.Consumer = defaultConsumerName()
	}
	o.Batch = orDefault(o.Batch, DefaultBatch)
	o.Block = orDefault(o.Block, time.Second)
	o.ClaimIdle = orDefault(o.ClaimIdle, 30*time.Second)
	o.MaxDeliveries = orDefault(o.MaxDeliveries, DefaultMaxDeliveries)
	o.DeadStream = orDefault(o.DeadStream, DefaultDead)
	o.DeadMaxLen = orDefault(o.DeadMaxLen, 100_000)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &RedisConsumer{
		o:   o,
		log: o.Logger.With("component", "bus", "group", o.Group, "consumer", o.Consumer),
		// Scanning twice per ClaimIdle bounds how long an orphaned entry
		// waits to about 1.5×ClaimIdle.
		claimEvery: max(o.ClaimIdle/2, 10*time.Millisecond),
		// Every restart adds a consumer name to the group; names idle this
		// long with nothing pending are forgotten.
		consumerTTL: max(time.Hour, 10*o.ClaimIdle),
	}, nil
}

func defaultConsumerName() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "rapport"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// Name returns the consumer's name within its group.
func (c *RedisConsumer) Name() string { return c.o.Consumer }

// Stats returns the running totals.
func (c *RedisConsumer) Stats() Stats {
	return Stats{
		Processed: c.processed.Load(),
		Acked:     c.acked.Load(),
		Dead:      c.dead.Load(),
		Reclaimed: c.reclaimed.Load(),
	}
}

// Run consumes until ctx is done and then returns nil. Redis errors are
// logged and retried with backoff; they never end the loop, because a
// replica that stops consuming silently is worse than one that complains.
func (c *RedisConsumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("bus: consumer already running")
	}
	defer c.running.Store(false)
	bo := backoff{min: 100 * time.Millisecond, max: 10 * time.Second}
	groupsReady := false
	// Reclaim at once: a restarted replica picks up what its predecessor
	// left pending without waiting a full period.
	nextClaim := time.Now()
	nextPrune := time.Now().Add(10 * time.Minute)
	for ctx.Err() == nil {
		if !groupsReady {
			if err := c.ensureGroups(ctx); err != nil {
				c.fail(ctx, &bo, "create consumer groups", err)
				continue
			}
			groupsReady = true
		}
		if !time.Now().Before(nextClaim) {
			if err := c.reclaim(ctx); err != nil {
				groupsReady = groupsReady && !isNoGroup(err)
				c.fail(ctx, &bo, "reclaim pending entries", err)
				continue
			}
			nextClaim = time.Now().Add(c.claimEvery)
		}
		if !time.Now().Before(nextPrune) {
			c.pruneConsumers(ctx)
			nextPrune = time.Now().Add(10 * time.Minute)
		}
		block := max(min(c.o.Block, time.Until(nextClaim)), time.Millisecond)
		if err := c.readNew(ctx, block); err != nil {
			groupsReady = groupsReady && !isNoGroup(err)
			c.fail(ctx, &bo, "read entries", err)
			continue
		}
		bo.reset()
	}
	return nil
}

func (c *RedisConsumer) fail(ctx context.Context, bo *backoff, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	d := bo.next()
	c.log.Warn("bus: redis error, backing off", "op", what, "err", err, "retry_in", d)
	ctxtime.Sleep(ctx, d)
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// ensureGroups creates each stream's group at "0", not "$": entries
// published before the group first existed are work too, and on later starts
// BUSYGROUP leaves the group's position alone.
func (c *RedisConsumer) ensureGroups(ctx context.Context) error {
	for _, s := range c.o.Streams {
		err := c.o.Client.XGroupCreateMkStream(ctx, s, c.o.Group, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("stream %s: %w", s, err)
		}
	}
	return nil
}

// entry is a message plus, for an entry without an event field, why it
// goes straight to the dead stream.
type entry struct {
	Message
	invalid string
}

func toEntry(stream string, m redis.XMessage, deliveries int64) entry {
	e := entry{Message: Message{Stream: stream, ID: m.ID, Deliveries: deliveries}}
	switch v := m.Values[EventField].(type) {
	case string:
		e.Body = []byte(v)
	case nil:
		e.invalid = "entry has no " + EventField + " field"
	default:
		e.invalid = fmt.Sprintf("entry field %s has type %T", EventField, v)
	}
	return e
}

func (c *RedisConsumer) readNew(ctx context.Context, block time.Duration) error {
	args := make([]string, 0, 2*len(c.o.Streams))
	args = append(args, c.o.Streams...)
	for range c.o.Streams {
		args = append(args, ">")
	}
	res, err := c.o.Client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    c.o.Group,
		Consumer: c.o.Consumer,
		Streams:  args,
		Count:    int64(c.o.Batch),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	var entries []entry
	for _, s := range res {
		for _, m := range s.Messages {
			// ">" only hands out entries never delivered before.
			entries = append(entries, toEntry(s.Stream, m, 1))
		}
	}
	return c.process(ctx, entries)
}

// reclaim takes over entries pending longer than ClaimIdle, whether a dead
// replica held them or a handler failed them, so failures are retried at
// most every ClaimIdle and on whichever replica is alive.
func (c *RedisConsumer) reclaim(ctx context.Context) error {
	for _, s := range c.o.Streams {
		start := "0-0"
		for ctx.Err() == nil {
			msgs, next, err := c.o.Client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream:   s,
				Group:    c.o.Group,
				MinIdle:  c.o.ClaimIdle,
				Start:    start,
				Count:    int64(c.o.Batch),
				Consumer: c.o.Consumer,
			}).Result()
			if err != nil {
				return fmt.Errorf("xautoclaim %s: %w", s, err)
			}
			if len(msgs) > 0 {
				counts, err := c.deliveryCounts(ctx, s, msgs)
				if err != nil {
					return err
				}
				c.reclaimed.Add(int64(len(msgs)))
				entries := make([]entry, len(msgs))
				for i, m := range msgs {
					entries[i] = toEntry(s, m, counts[i])
				}
				if err := c.process(ctx, entries); err != nil {
					return err
				}
			}
			if next == "" || next == "0-0" {
				break
			}
			start = next
		}
	}
	return nil
}

// deliveryCounts asks XPENDING (extended form, one id per command, one
// round trip) how often each claimed entry has been delivered; XAUTOCLAIM
// does not say, and the count is what moves poison to the dead stream.
func (c *RedisConsumer) deliveryCounts(ctx context.Context, stream string, msgs []redis.XMessage) ([]int64, error) {
	cmds := make([]*redis.XPendingExtCmd, len(msgs))
	_, err := c.o.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range msgs {
			cmds[i] = p.XPendingExt(ctx, &redis.XPendingExtArgs{
				Stream: stream, Group: c.o.Group, Start: m.ID, End: m.ID, Count: 1,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("xpending %s: %w", stream, err)
	}
	out := make([]int64, len(msgs))
	for i, cmd := range cmds {
		out[i] = 1
		if v := cmd.Val(); len(v) == 1 {
			out[i] = v[0].RetryCount
		}
	}
	return out, nil
}

type deadEntry struct {
	Message
	reason string
}

// process hands the valid entries to the handler and settles every entry:
// ack, dead-letter, or leave pending for a later reclaim.
func (c *RedisConsumer) process(ctx context.Context, entries []entry) error {
	var acks map[string][]string
	var dead []deadEntry
	ack := func(m Message) {
		if acks == nil {
			acks = map[string][]string{}
		}
		acks[m.Stream] = append(acks[m.Stream], m.ID)
	}
	var valid []Message
	for _, e := range entries {
		switch {
		case e.invalid != "":
			dead = append(dead, deadEntry{e.Message, e.invalid})
		case e.Deliveries > c.o.MaxDeliveries:
			// Only a consumer dying while handling it gets an entry
			// here: do not hand a likely process-killer out again.
			dead = append(dead, deadEntry{e.Message, fmt.Sprintf("delivered %d times without an outcome (max %d)", e.Deliveries, c.o.MaxDeliveries)})
		default:
			valid = append(valid, e.Message)
		}
	}
	outs := handle(ctx, c.o.Handler, valid, c.log)
	c.processed.Add(int64(len(valid)))
	var failed int
	var lastErr error
	for i, o := range outs {
		m := valid[i]
		switch {
		case o.Err == nil:
			ack(m)
		case o.Dead:
			dead = append(dead, deadEntry{m, o.Err.Error()})
		case m.Deliveries >= c.o.MaxDeliveries:
			dead = append(dead, deadEntry{m, fmt.Sprintf("failed %d deliveries: %v", m.Deliveries, o.Err)})
		default:
			failed++
			lastErr = o.Err
		}
	}
	if failed > 0 {
		c.log.Warn("bus: messages failed; left pending for retry", "failed", failed, "retry_after", c.o.ClaimIdle, "last_err", lastErr)
	}
	// Effects are committed: settle even if ctx was cancelled meanwhile, or
	// the work would be redone by whoever reclaims it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return c.settle(sctx, acks, dead)
}

// settle acknowledges and dead-letters in one MULTI/EXEC, so a dead entry is
// never acknowledged without its copy in the dead stream, nor copied without
// being acknowledged.
func (c *RedisConsumer) settle(ctx context.Context, acks map[string][]string, dead []deadEntry) error {
	if len(acks) == 0 && len(dead) == 0 {
		return nil
	}
	var nAck int
	_, err := c.o.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range dead {
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: c.o.DeadStream,
				MaxLen: c.o.DeadMaxLen,
				Approx: true,
				Values: []any{
					"stream", d.Stream,
					"id", d.ID,
					EventField, d.Body,
					"reason", d.reason,
					"deliveries", d.Deliveries,
					"consumer", c.o.Consumer,
				},
			})
			p.XAck(ctx, d.Stream, c.o.Group, d.ID)
		}
		for s, ids := range acks {
			nAck += len(ids)
			p.XAck(ctx, s, c.o.Group, ids...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle %d acks and %d dead letters: %w", nAck, len(dead), err)
	}
	c.acked.Add(int64(nAck))
	c.dead.Add(int64(len(dead)))
	for _, d := range dead {
		c.log.Error("bus: message moved to the dead stream", "stream", d.Stream, "id", d.ID, "deliveries", d.Deliveries, "reason", d.reason, "dead_stream", c.o.DeadStream)
	}
	return nil
}

// pruneConsumers forgets consumer names left behind by stopped replicas.
// Only names with nothing pending go, so no pending entry loses its owner;
// a live consumer removed by mistake is recreated by its next read.
func (c *RedisConsumer) pruneConsumers(ctx context.Context) {
	for _, s := range c.o.Streams {
		cs, err := c.o.Client.XInfoConsumers(ctx, s, c.o.Group).Result()
		if err != nil {
			c.log.Warn("bus: list consumers", "stream", s, "err", err)
			continue
		}
		for _, x := range cs {
			if x.Name == c.o.Consumer || x.Pending > 0 || x.Idle < c.consumerTTL {
				continue
			}
			if err := c.o.Client.XGroupDelConsumer(ctx, s, c.o.Group, x.Name).Err(); err != nil {
				c.log.Warn("bus: delete idle consumer", "stream", s, "name", x.Name, "err", err)
			}
		}
	}
}

// Publish appends body to stream as the event field of a new entry, the
// shape RedisConsumer reads, and returns the entry id.
func Publish(ctx context.Context, client *redis.Client, stream string, body []byte) (string, error) {
	return client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{EventField, body}}).Result()
}
