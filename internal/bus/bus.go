// Package bus carries consumed events to their handlers: Redis streams with
// consumer groups in production (RedisConsumer) and an in-process queue in the
// embedded mode (Local). Both give a handler the same contract: a batch in, one
// Outcome per message out, delivered at least once. Exactly-once effects are
// the handler's job (it records the event id in the transaction of its
// effects), so everything here may safely deliver a message twice.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Message is one entry of an input stream.
type Message struct {
	Stream, ID string
	Body       []byte
	// Deliveries counts how often the message was handed out, this time
	// included, so a handler can tell a first attempt from a retry.
	Deliveries int64
}

// Outcome says what became of one message: Err nil → acknowledge; Dead →
// move to the dead-letter stream now with Err's text as reason, then
// acknowledge; otherwise (Err != nil, !Dead) leave it pending so it is
// retried, and once Deliveries reaches MaxDeliveries move it to the
// dead-letter stream.
type Outcome struct {
	Err  error
	Dead bool
}

// Handler processes a batch and returns one Outcome per message, in order. It
// must commit effects before returning.
type Handler func(ctx context.Context, msgs []Message) []Outcome

// Stats are running totals since a consumer was built, for metrics and tests.
type Stats struct {
	// Processed counts messages handed to the handler.
	Processed int64
	// Acked counts messages acknowledged after success.
	Acked int64
	// Dead counts messages moved to the dead letters.
	Dead int64
	// Reclaimed counts pending messages taken over (Redis) or retried (Local).
	Reclaimed int64
}

// DeadLetter is a message given up on, with the reason, kept by Local.
type DeadLetter struct {
	Message
	Reason string
	At     time.Time
}

// ErrClosed is returned by Local.Submit once the bus is stopping: accepting
// a message that would never be handled would lose it silently.
var ErrClosed = errors.New("bus: closed")

// Defaults shared by both transports.
const (
	// DefaultBatch is the most messages per handler call.
	DefaultBatch = 500
	// DefaultMaxDeliveries is how many failed deliveries make a message dead.
	DefaultMaxDeliveries = 5
)

// handle runs h over msgs and always returns exactly one Outcome per message.
// A panic fails the batch; when the batch held several messages each is then
// run alone, so one poison message does not drag its neighbours towards the
// dead letters (re-running is safe: handlers are idempotent by contract).
func handle(ctx context.Context, h Handler, msgs []Message, log *slog.Logger) []Outcome {
	if len(msgs) == 0 {
		return nil
	}
	out, err := safeCall(ctx, h, msgs)
	if err == nil {
		return out
	}
	var pe panicError
	if len(msgs) == 1 || !errors.As(err, &pe) {
		log.Error("bus: handler failed the batch", "messages", len(msgs), "err", err)
		return failAll(len(msgs), err)
	}
	log.Error("bus: handler panicked; retrying the batch one message at a time", "messages", len(msgs), "err", err, "stack", pe.stack)
	res := make([]Outcome, len(msgs))
	for i := range msgs {
		o, err := safeCall(ctx, h, msgs[i:i+1])
		if err != nil {
			res[i] = Outcome{Err: err}
			continue
		}
		res[i] = o[0]
	}
	return res
}

type panicError struct {
	value any
	stack string
}

func (p panicError) Error() string { return fmt.Sprintf("handler panic: %v", p.value) }

func safeCall(ctx context.Context, h Handler, msgs []Message) (out []Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	out = h(ctx, msgs)
	if len(out) != len(msgs) {
		return nil, fmt.Errorf("handler returned %d outcomes for %d messages", len(out), len(msgs))
	}
	return out, nil
}

func failAll(n int, err error) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = Outcome{Err: err}
	}
	return out
}

// backoff doubles a delay between failures up to a ceiling.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
