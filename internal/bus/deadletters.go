package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeadLetters reads and settles a Redis dead-letter stream: the entries
// consumers gave up on (invalid, or failing MaxDeliveries times), each with
// its original stream and why. Replaying one is safe whatever it is: the
// pipeline applies an event once (its sync log), so a replayed event that
// had taken effect after all changes nothing, and one still invalid comes
// back here.
type DeadLetters struct {
	// Client is required.
	Client *redis.Client
	// Stream is the dead-letter stream (default "rapport:dead").
	Stream string
}

// DeadEntry is one dead letter.
type DeadEntry struct {
	// ID is the entry's id in the dead-letter stream.
	ID string
	// At is when it was dead-lettered (from ID).
	At time.Time
	// Source is the stream it came from, and SourceID its id there.
	Source, SourceID string
	// Body is the entry's event field: the envelope as published.
	Body []byte
	// Reason says why it was given up.
	Reason     string
	Deliveries int64
	// Consumer is the replica that dead-lettered it.
	Consumer string
}

// ErrNoDeadEntry is returned for an id that is not in the dead-letter
// stream (replayed or dropped meanwhile, or never there).
var ErrNoDeadEntry = errors.New("no such dead letter")

func (d DeadLetters) stream() string { return orDefault(d.Stream, DefaultDead) }

// Count is the number of dead letters.
func (d DeadLetters) Count(ctx context.Context) (int64, error) {
	return d.Client.XLen(ctx, d.stream()).Result()
}

// List returns up to count dead letters, oldest first, after the entry
// with id after ("" from the start): page with the last id returned.
func (d DeadLetters) List(ctx context.Context, after string, count int64) ([]DeadEntry, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	ms, err := d.Client.XRangeN(ctx, d.stream(), start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.stream(), err)
	}
	out := make([]DeadEntry, len(ms))
	for i, m := range ms {
		out[i] = deadEntryOf(m)
	}
	return out, nil
}

// Get returns one dead letter.
func (d DeadLetters) Get(ctx context.Context, id string) (DeadEntry, error) {
	ms, err := d.Client.XRange(ctx, d.stream(), id, id).Result()
	if err != nil {
		return DeadEntry{}, fmt.Errorf("read %s: %w", d.stream(), err)
	}
	if len(ms) == 0 {
		return DeadEntry{}, fmt.Errorf("%s: %w", id, ErrNoDeadEntry)
	}
	return deadEntryOf(ms[0]), nil
}

// replayScript moves a dead letter back in one step: only the caller that
// deletes it re-publishes it, so two operators replaying at once publish it
// once.
var replayScript = redis.NewScript(`
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], '*', ARGV[2], ARGV[3])
end
return false`)

// Replay publishes the dead letter id again on the stream it came from, as
// a new entry, and removes it from the dead-letter stream; it returns the
// new entry's id.
func (d DeadLetters) Replay(ctx context.Context, id string) (string, error) {
	e, err := d.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if e.Source == "" || len(e.Body) == 0 {
		return "", fmt.Errorf("%s: the entry names no stream or holds no event; drop it instead", id)
	}
	res, err := replayScript.Run(ctx, d.Client, []string{d.stream(), e.Source}, id, EventField, e.Body).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%s: %w", id, ErrNoDeadEntry)
	}
	if err != nil {
		return "", fmt.Errorf("replay %s to %s: %w", id, e.Source, err)
	}
	newID, _ := res.(string)
	return newID, nil
}

// Drop removes dead letters for good and returns how many there were.
func (d DeadLetters) Drop(ctx context.Context, ids ...string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	return d.Client.XDel(ctx, d.stream(), ids...).Result()
}

func deadEntryOf(m redis.XMessage) DeadEntry {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	e := DeadEntry{ID: m.ID, Source: s("stream"), SourceID: s("id"), Body: []byte(s(EventField)),
		Reason: s("reason"), Consumer: s("consumer")}
	e.Deliveries, _ = strconv.ParseInt(s("deliveries"), 10, 64)
	if ms, _, ok := strings.Cut(m.ID, "-"); ok {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
			e.At = time.UnixMilli(n).UTC()
		}
	}
	return e
}
