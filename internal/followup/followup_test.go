package followup

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestRoundsRestInProportionToTheirLength checks that, with no budget left,
// a slow round of work is followed by a rest of twice its length (a third of
// the time working) before the next one, and that changes made meanwhile are
// handled together.
func TestRoundsRestInProportionToTheirLength(t *testing.T) {
	const work = 60 * time.Millisecond
	var mu sync.Mutex
	var starts, ends []time.Time
	var sizes []int
	q := New(nil, 5*time.Millisecond, 100, Handler{Name: "slow", Fn: func(_ context.Context, _ uuid.UUID, ids []uuid.UUID) error {
		mu.Lock()
		starts = append(starts, time.Now())
		sizes = append(sizes, len(ids))
		mu.Unlock()
		time.Sleep(work)
		mu.Lock()
		ends = append(ends, time.Now())
		mu.Unlock()
		return nil
	}})
	q.burst = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	tenant := uuid.New()
	q.Add(tenant, uuid.New())
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(starts)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first round never started")
		}
		time.Sleep(time.Millisecond)
	}
	// Changes arriving while the first round works wait for the rest.
	q.Add(tenant, uuid.New())
	q.Add(tenant, uuid.New())
	for {
		mu.Lock()
		n := len(ends)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second round never finished")
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap, min := starts[1].Sub(ends[0]), 2*work-5*time.Millisecond; gap < min {
		t.Errorf("second round started %s after the first ended, want at least %s", gap, min)
	}
	if sizes[1] != 2 {
		t.Errorf("second round handled %d profiles, want the 2 changed meanwhile", sizes[1])
	}
}

// TestRoundsTakeOneBatchEach checks that Run works through a backlog one
// batch per round and, with no budget left, rests between the batches of
// one backlog (handling it all in one round would run them back to back),
// handling every pending profile once.
func TestRoundsTakeOneBatchEach(t *testing.T) {
	const work = 30 * time.Millisecond
	var mu sync.Mutex
	var sizes []int
	var starts, ends []time.Time
	seen := map[uuid.UUID]int{}
	q := New(nil, time.Millisecond, 2, Handler{Name: "count", Fn: func(_ context.Context, _ uuid.UUID, ids []uuid.UUID) error {
		mu.Lock()
		starts = append(starts, time.Now())
		sizes = append(sizes, len(ids))
		for _, id := range ids {
			seen[id]++
		}
		mu.Unlock()
		time.Sleep(work)
		mu.Lock()
		ends = append(ends, time.Now())
		mu.Unlock()
		return nil
	}})
	q.burst = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.Add(uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New())
	go q.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for func() bool { mu.Lock(); defer mu.Unlock(); return len(ends) < 3 }() {
		if time.Now().After(deadline) {
			t.Fatal("the backlog was never worked off")
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Errorf("rounds of %v profiles, want 2, 2 and 1", sizes)
	}
	for i := 1; i < len(starts); i++ {
		if gap, min := starts[i].Sub(ends[i-1]), 2*work-5*time.Millisecond; gap < min {
			t.Errorf("batch %d started %s after the one before ended, want a rest of at least %s", i+1, gap, min)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("profile %s handled %d times", id, n)
		}
	}
}

// TestBudget checks the follow-up's allowance: a round after a quiet spell
// runs at once, even a slow one; sustained work rests twice as long as it
// worked; the allowance never grows beyond the burst.
func TestBudget(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	b := newBudget(share, time.Second, t0)
	// Idle for a minute: the allowance is the burst, not a minute's share.
	if r := b.rest(at(60_000)); r != 0 {
		t.Fatalf("rest after a quiet minute %s, want 0", r)
	}
	b.spend(at(60_000), at(60_700)) // a slow 700 ms round
	if r := b.rest(at(60_700)); r != 0 {
		t.Fatalf("rest after one slow round following a quiet spell %s, want 0", r)
	}
	// Rounds back to back overdraw it; then each rests twice its length.
	start := 60_700
	for range 3 {
		start += int(b.rest(at(start)) / time.Millisecond)
		b.spend(at(start), at(start+600))
		start += 600
	}
	if r := b.rest(at(start)); r < 1190*time.Millisecond || r > 1210*time.Millisecond {
		t.Fatalf("rest after sustained 600 ms rounds %s, want 1.2s", r)
	}
}

// TestFlushReportsFailedSteps checks that a one-shot Flush counts what was
// pending, runs every batch even after a step fails, and returns the failure.
func TestFlushReportsFailedSteps(t *testing.T) {
	var calls []int
	boom := errors.New("boom")
	q := New(nil, 0, 2,
		Handler{Name: "scores", Fn: func(_ context.Context, _ uuid.UUID, ids []uuid.UUID) error {
			calls = append(calls, len(ids))
			if len(calls) == 1 {
				return boom
			}
			return nil
		}})
	tenant := uuid.New()
	q.Add(tenant, uuid.New(), uuid.New(), uuid.New())
	q.Add(tenant, uuid.New())
	if n := q.Pending(); n != 4 {
		t.Fatalf("pending %d, want 4", n)
	}
	err := q.Flush(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "scores of 2 profiles") {
		t.Fatalf("flush: %v", err)
	}
	if len(calls) != 2 || calls[0]+calls[1] != 4 {
		t.Fatalf("batches %v, want two of 2", calls)
	}
	if n := q.Pending(); n != 0 {
		t.Fatalf("pending after flush %d", n)
	}
	if err := q.Flush(context.Background()); err != nil {
		t.Fatalf("empty flush: %v", err)
	}
}
