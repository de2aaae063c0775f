package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func startLocal(t *testing.T, o LocalOptions) (*Local, func()) {
	t.Helper()
	o.RetryBackoff = orDefault(o.RetryBackoff, 10*time.Millisecond)
	o.Logger = testLogger(t)
	l, err := NewLocal(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return l, stop
}

func bodies(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestLocalHandlesRetriesAndDeadLetters(t *testing.T) {
	st := newStore()
	var mu sync.Mutex
	attempts := map[string][]int64{}
	l, _ := startLocal(t, LocalOptions{MaxDeliveries: 3, Handler: func(_ context.Context, ms []Message) []Outcome {
		out := make([]Outcome, len(ms))
		for i, m := range ms {
			mu.Lock()
			attempts[string(m.Body)] = append(attempts[string(m.Body)], m.Deliveries)
			mu.Unlock()
			switch string(m.Body) {
			case "flaky":
				if m.Deliveries < 2 {
					out[i].Err = errors.New("try again")
					continue
				}
			case "poison":
				out[i].Err = errors.New("cannot decode")
				continue
			case "reject":
				out[i] = Outcome{Err: errors.New("unknown type"), Dead: true}
				continue
			case "boom":
				panic("bug")
			}
			st.apply(m, "local")
		}
		return out
	}})
	if err := l.Submit(context.Background(), "scl", bodies("a", "flaky", "poison", "reject", "boom", "b")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "settled", func() bool { return l.Stats().Acked == 3 && l.Stats().Dead == 3 })
	reasons := map[string]string{}
	for _, d := range l.Dead() {
		reasons[string(d.Body)] = fmt.Sprintf("%d %s", d.Deliveries, d.Reason)
	}
	for body, want := range map[string]string{"poison": "3 failed 3 deliveries: cannot decode", "reject": "1 unknown type", "boom": "3 failed 3 deliveries: handler panic: bug"} {
		if reasons[body] != want {
			t.Fatalf("dead %s = %q, want %q", body, reasons[body], want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// A panic in its batch may re-run the first delivery alone; the retry
	// that succeeds is the second delivery.
	if got := attempts["flaky"]; got[0] != 1 || got[len(got)-1] != 2 {
		t.Fatalf("flaky deliveries = %v", got)
	}
	if s := l.Stats(); s.Reclaimed == 0 {
		t.Fatalf("stats = %+v, want retries counted", s)
	}
}

func TestLocalBatchesAndDrainsOnStop(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	got := 0
	release := make(chan struct{})
	l, stop := startLocal(t, LocalOptions{Batch: 100, Handler: func(_ context.Context, ms []Message) []Outcome {
		<-release
		mu.Lock()
		sizes = append(sizes, len(ms))
		got += len(ms)
		mu.Unlock()
		return make([]Outcome, len(ms))
	}})
	ctx := context.Background()
	for i := range 250 {
		if err := l.Submit(ctx, "scl", bodies(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	stop() // must not return before everything accepted was handled
	mu.Lock()
	defer mu.Unlock()
	if got != 250 {
		t.Fatalf("handled %d of 250 before stop returned", got)
	}
	for _, n := range sizes {
		if n > 100 {
			t.Fatalf("batch of %d exceeds Batch", n)
		}
	}
	if len(sizes) >= 250 {
		t.Fatalf("%d handler calls for 250 messages: not batching", len(sizes))
	}
	if err := l.Submit(ctx, "scl", bodies("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after stop = %v, want ErrClosed", err)
	}
}

func TestLocalDrainGivesWaitingRetriesOneLastTry(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	l, stop := startLocal(t, LocalOptions{RetryBackoff: time.Hour, Handler: func(_ context.Context, ms []Message) []Outcome {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return failAll(len(ms), errors.New("transient"))
		}
		return make([]Outcome, len(ms))
	}})
	if err := l.Submit(context.Background(), "scl", bodies("x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "first delivery", func() bool { return l.Stats().Processed == 1 })
	stop()
	if s := l.Stats(); s.Acked != 1 || s.Dead != 0 {
		t.Fatalf("stats after drain = %+v", s)
	}
}

func TestLocalDeadListIsBounded(t *testing.T) {
	l, _ := startLocal(t, LocalOptions{DeadKeep: 3, Handler: func(_ context.Context, ms []Message) []Outcome {
		out := make([]Outcome, len(ms))
		for i := range out {
			out[i] = Outcome{Err: errors.New("no"), Dead: true}
		}
		return out
	}})
	if err := l.Submit(context.Background(), "scl", bodies("1", "2", "3", "4", "5")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "dead", func() bool { return l.Stats().Dead == 5 })
	var got []string
	for _, d := range l.Dead() {
		got = append(got, string(d.Body))
	}
	if fmt.Sprint(got) != "[3 4 5]" {
		t.Fatalf("dead = %v, want the last three, oldest first", got)
	}
}

func TestLocalSubmitPushesBackWhenFull(t *testing.T) {
	block := make(chan struct{})
	l, _ := startLocal(t, LocalOptions{QueueSize: 1, Batch: 1, Handler: func(_ context.Context, ms []Message) []Outcome {
		<-block
		return make([]Outcome, len(ms))
	}})
	defer close(block)
	// One message in the handler, one in the queue; the third must wait.
	if err := l.Submit(context.Background(), "scl", bodies("1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "in handler", func() bool { return len(l.queue) == 0 })
	if err := l.Submit(context.Background(), "scl", bodies("2")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Submit(ctx, "scl", bodies("3")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue = %v, want deadline exceeded", err)
	}
}
