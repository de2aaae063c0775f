package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Defaults of the outgoing stream.
const (
	// DefaultStream is the stream produced events go to.
	DefaultStream = "rapport:out"
	// DefaultMaxLen caps the outgoing stream, approximately: consumers are
	// expected to keep up, and Redis's memory is not an archive.
	DefaultMaxLen = 1_000_000
)

// RedisPublisher appends events to a Redis stream, fields "event" (the
// envelope JSON) and "id" (the event id).
type RedisPublisher struct {
	Client *redis.Client
	// Stream defaults to "rapport:out".
	Stream string
	// MaxLen defaults to 1,000,000 (approximate trimming).
	MaxLen int64
}

// NewRedisPublisher returns a publisher to the default stream.
func NewRedisPublisher(client *redis.Client) *RedisPublisher {
	return &RedisPublisher{Client: client, Stream: DefaultStream, MaxLen: DefaultMaxLen}
}

// Publish appends the batch in one MULTI/EXEC, in order, so a batch is
// either all in the stream or (barring a server fault mid-EXEC) not at all,
// which keeps re-publishing on retry to a minimum.
func (p *RedisPublisher) Publish(ctx context.Context, events []Envelope) error {
	stream := p.Stream
	if stream == "" {
		stream = DefaultStream
	}
	maxLen := p.MaxLen
	if maxLen == 0 {
		maxLen = DefaultMaxLen
	}
	bodies := make([][]byte, len(events))
	for i, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		bodies[i] = b
	}
	cmds, err := p.Client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, e := range events {
			pipe.XAdd(ctx, &redis.XAddArgs{
				Stream: stream,
				MaxLen: maxLen,
				Approx: true,
				Values: []any{"event", bodies[i], "id", e.ID.String()},
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}

// LocalPublisher hands events to in-process subscribers, the embedded
// mode's stand-in for the outgoing stream.
type LocalPublisher struct {
	mu   sync.RWMutex
	subs map[int]func(Envelope)
	next int
	log  *slog.Logger
}

// NewLocalPublisher returns a publisher without subscribers; logger may be
// nil.
func NewLocalPublisher(logger *slog.Logger) *LocalPublisher {
	if logger == nil {
		logger = slog.Default()
	}
	return &LocalPublisher{subs: map[int]func(Envelope){}, log: logger}
}

// Subscribe registers fn for every event published from now on and returns
// the function that removes it. fn runs on the relay's goroutine, in event
// order: it must be quick and must not call back into the relay.
func (p *LocalPublisher) Subscribe(fn func(Envelope)) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.next
	p.next++
	p.subs[id] = fn
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.subs, id)
	}
}

// Publish calls every subscriber for each event in order. A panicking
// subscriber is logged and skipped: it cannot fail the batch for the others,
// which would then see the events again.
func (p *LocalPublisher) Publish(_ context.Context, events []Envelope) error {
	p.mu.RLock()
	subs := make([]func(Envelope), 0, len(p.subs))
	for _, fn := range p.subs {
		subs = append(subs, fn)
	}
	p.mu.RUnlock()
	for _, e := range events {
		for _, fn := range subs {
			p.call(fn, e)
		}
	}
	return nil
}

func (p *LocalPublisher) call(fn func(Envelope), e Envelope) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("outbox: local subscriber panicked", "event", e.ID, "type", e.Type, "panic", r)
		}
	}()
	fn(e)
}
