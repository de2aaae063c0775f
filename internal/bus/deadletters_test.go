package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDeadLettersReplayAndDrop: entries a consumer gave up on are listed
// with their reason, a replay puts one back on its stream (once, however
// many replay it) where the now healthy handler takes it, and a drop
// removes one for good.
func TestDeadLettersReplayAndDrop(t *testing.T) {
	rc := redisClient(t)
	streams, dead := names(t, rc, 2)
	var healthy atomic.Bool
	st := newStore()
	c, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", DeadStream: dead,
		Handler: func(_ context.Context, ms []Message) []Outcome {
			out := make([]Outcome, len(ms))
			for i, m := range ms {
				if !healthy.Load() && strings.Contains(string(m.Body), "bad") {
					out[i] = Outcome{Err: errors.New("tenant unknown"), Dead: true}
					continue
				}
				st.apply(m, "c")
			}
			return out
		}})
	publishN(t, rc, streams[0], 3, func(i int) string { return fmt.Sprintf(`{"bad":%d}`, i) })
	publishN(t, rc, streams[1], 2, func(i int) string { return fmt.Sprintf(`{"ok":%d}`, i) })
	eventually(t, 5*time.Second, "3 dead, 2 processed", func() bool { return c.Stats().Dead == 3 && st.count() == 2 })

	dl := DeadLetters{Client: rc, Stream: dead}
	ctx := context.Background()
	first, err := dl.List(ctx, "", 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("first page: %v %v", first, err)
	}
	rest, err := dl.List(ctx, first[1].ID, 10)
	if err != nil || len(rest) != 1 {
		t.Fatalf("second page: %v %v", rest, err)
	}
	e := first[0]
	if e.Source != streams[0] || e.SourceID == "" || string(e.Body) != `{"bad":0}` || e.Reason != "tenant unknown" ||
		e.Deliveries != 1 || e.Consumer == "" || time.Since(e.At) > time.Minute {
		t.Errorf("entry %+v", e)
	}

	// Fixed upstream (the tenant now exists): replay one; a second replay
	// of the same entry finds nothing to move.
	healthy.Store(true)
	newID, err := dl.Replay(ctx, e.ID)
	if err != nil || newID == "" {
		t.Fatalf("replay: %q %v", newID, err)
	}
	if _, err := dl.Replay(ctx, e.ID); !errors.Is(err, ErrNoDeadEntry) {
		t.Errorf("second replay: %v", err)
	}
	eventually(t, 5*time.Second, "the replayed entry processed", func() bool { return st.count() == 3 })
	if effects, _ := st.snapshot(); effects[streams[0]+"/"+newID] != 1 {
		t.Errorf("effects %v lack the replayed entry %s", effects, newID)
	}

	if n, err := dl.Drop(ctx, first[1].ID, "0-1"); err != nil || n != 1 {
		t.Errorf("drop: %d %v", n, err)
	}
	if n, err := dl.Count(ctx); err != nil || n != 1 {
		t.Errorf("left: %d %v", n, err)
	}
	if _, err := dl.Get(ctx, first[1].ID); !errors.Is(err, ErrNoDeadEntry) {
		t.Errorf("dropped entry: %v", err)
	}
}
