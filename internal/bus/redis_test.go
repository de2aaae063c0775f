package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/testenv"
)

// redisClient connects to the test Redis, or skips (fails under
// RAPPORT_TEST_REQUIRE_SERVICES=1) when there is none.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("RAPPORT_TEST_REDIS_URL")
	if u == "" {
		if testenv.Required() {
			t.Fatal("RAPPORT_TEST_REDIS_URL is required (RAPPORT_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip("RAPPORT_TEST_REDIS_URL not set")
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	if err := c.Ping(context.Background()).Err(); err != nil {
		c.Close()
		if testenv.Required() {
			t.Fatalf("redis unreachable: %v", err)
		}
		t.Skipf("redis unreachable: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// names returns stream names unique to the test, deleted when it ends, so
// parallel test packages sharing the Redis never see each other's entries.
func names(t *testing.T, c *redis.Client, n int) (streams []string, dead string) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	base := "test:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(b[:])
	for i := range n {
		streams = append(streams, fmt.Sprintf("%s:in%d", base, i))
	}
	dead = base + ":dead"
	t.Cleanup(func() {
		c.Del(context.Background(), append(streams, dead)...)
	})
	return streams, dead
}

// testLogger shows the service's logs only for failed or -v runs.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// store is an idempotent handler's effect store: it records an effect once
// per (stream, id), as a real handler records the event id with its effects.
type store struct {
	mu         sync.Mutex
	effects    map[string]int // key → times the effect was applied
	deliveries map[string][]int64
	consumers  map[string]string
}

func newStore() *store {
	return &store{effects: map[string]int{}, deliveries: map[string][]int64{}, consumers: map[string]string{}}
}

func key(m Message) string { return m.Stream + "/" + m.ID }

// apply records m's effect unless it was applied before and reports
// whether this delivery applied it.
func (s *store) apply(m Message, consumer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(m)
	s.deliveries[k] = append(s.deliveries[k], m.Deliveries)
	if s.effects[k] > 0 {
		return false
	}
	s.effects[k]++
	s.consumers[k] = consumer
	return true
}

func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.effects)
}

func (s *store) snapshot() (map[string]int, map[string][]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := map[string]int{}
	for k, v := range s.effects {
		e[k] = v
	}
	d := map[string][]int64{}
	for k, v := range s.deliveries {
		d[k] = append([]int64(nil), v...)
	}
	return e, d
}

func start(t *testing.T, o RedisOptions) (*RedisConsumer, context.CancelFunc) {
	t.Helper()
	o.Logger = testLogger(t)
	if o.Block == 0 {
		o.Block = 50 * time.Millisecond
	}
	c, err := NewRedisConsumer(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return c, stop
}

func publishN(t *testing.T, c *redis.Client, stream string, n int, body func(i int) string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := Publish(context.Background(), c, stream, []byte(body(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func pendingCount(t *testing.T, c *redis.Client, stream, group string) int64 {
	t.Helper()
	p, err := c.XPending(context.Background(), stream, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

func deadEntries(t *testing.T, c *redis.Client, dead string) []redis.XMessage {
	t.Helper()
	ms, err := c.XRange(context.Background(), dead, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestRedisAcksAfterSuccessIncludingEntriesOlderThanTheGroup(t *testing.T) {
	rc := redisClient(t)
	streams, dead := names(t, rc, 2)
	// Published before any group exists: the group starts at "0", so
	// these must not be lost.
	publishN(t, rc, streams[0], 3, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	st := newStore()
	c, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", DeadStream: dead,
		Handler: func(_ context.Context, ms []Message) []Outcome {
			for _, m := range ms {
				st.apply(m, "c")
			}
			return make([]Outcome, len(ms))
		}})
	publishN(t, rc, streams[1], 2, func(i int) string { return fmt.Sprintf(`{"m":%d}`, i) })
	eventually(t, 5*time.Second, "5 messages", func() bool { return c.Stats().Acked == 5 })
	if st.count() != 5 {
		t.Fatalf("effects = %d, want 5", st.count())
	}
	for _, s := range streams {
		if n := pendingCount(t, rc, s, "g"); n != 0 {
			t.Fatalf("%s has %d pending", s, n)
		}
	}
	if s := c.Stats(); s.Processed != 5 || s.Dead != 0 || s.Reclaimed != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestRedisRedeliversAfterHandlerFailure(t *testing.T) {
	rc := redisClient(t)
	streams, dead := names(t, rc, 1)
	st := newStore()
	c, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", DeadStream: dead, ClaimIdle: 200 * time.Millisecond,
		Handler: func(_ context.Context, ms []Message) []Outcome {
			out := make([]Outcome, len(ms))
			for i, m := range ms {
				if string(m.Body) == "flaky" && m.Deliveries == 1 {
					st.apply(Message{Stream: "failures", ID: m.ID}, "c")
					out[i].Err = fmt.Errorf("database unavailable")
					continue
				}
				st.apply(m, "c")
			}
			return out
		}})
	ids := publishN(t, rc, streams[0], 3, func(i int) string { return []string{"ok", "flaky", "ok"}[i] })
	eventually(t, 5*time.Second, "all acked", func() bool { return c.Stats().Acked == 3 })
	_, deliveries := st.snapshot()
	if got := deliveries[streams[0]+"/"+ids[1]]; len(got) != 1 || got[0] != 2 {
		t.Fatalf("flaky message applied at deliveries %v, want [2]", got)
	}
	if n := pendingCount(t, rc, streams[0], "g"); n != 0 {
		t.Fatalf("%d pending", n)
	}
	if len(deadEntries(t, rc, dead)) != 0 {
		t.Fatal("nothing should be dead")
	}
	if c.Stats().Reclaimed != 1 {
		t.Fatalf("reclaimed = %d, want 1", c.Stats().Reclaimed)
	}
}

// A replica that read entries and died before acknowledging them (here a
// raw XREADGROUP by a consumer that never comes back) must not lose them.
func TestRedisReclaimsEntriesOfADeadConsumer(t *testing.T) {
	rc := redisClient(t)
	ctx := context.Background()
	streams, dead := names(t, rc, 1)
	if err := rc.XGroupCreateMkStream(ctx, streams[0], "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	ids := publishN(t, rc, streams[0], 10, func(i int) string { return fmt.Sprint(i) })
	got, err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "ghost", Streams: []string{streams[0], ">"}, Count: 100}).Result()
	if err != nil || len(got[0].Messages) != 10 {
		t.Fatalf("ghost read: %v %v", got, err)
	}
	st := newStore()
	c, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", DeadStream: dead, ClaimIdle: 200 * time.Millisecond,
		Handler: func(_ context.Context, ms []Message) []Outcome {
			for _, m := range ms {
				st.apply(m, "b")
			}
			return make([]Outcome, len(ms))
		}})
	eventually(t, 5*time.Second, "reclaim", func() bool { return c.Stats().Acked == 10 })
	effects, deliveries := st.snapshot()
	for _, id := range ids {
		k := streams[0] + "/" + id
		if effects[k] != 1 || len(deliveries[k]) != 1 || deliveries[k][0] != 2 {
			t.Fatalf("%s: effects %d deliveries %v, want 1 effect at delivery 2", id, effects[k], deliveries[k])
		}
	}
	if n := pendingCount(t, rc, streams[0], "g"); n != 0 {
		t.Fatalf("%d pending", n)
	}
}

// A consumer cancelled mid-batch, after its handler committed some effects
// but before it acknowledged them: another consumer takes the entries over,
// and with an idempotent handler every effect happens exactly once.
func TestRedisConsumerKilledMidBatchLosesAndDuplicatesNothing(t *testing.T) {
	rc := redisClient(t)
	streams, dead := names(t, rc, 1)
	st := newStore()
	// Published first, so consumer a reads all of them in one batch.
	ids := publishN(t, rc, streams[0], 20, func(i int) string { return fmt.Sprint(i) })
	entered := make(chan struct{})
	var once sync.Once
	_, stopA := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", Consumer: "a", DeadStream: dead, ClaimIdle: 200 * time.Millisecond,
		Handler: func(ctx context.Context, ms []Message) []Outcome {
			for _, m := range ms[:len(ms)/2] {
				st.apply(m, "a") // half the batch committed...
			}
			once.Do(func() { close(entered) })
			<-ctx.Done() // ...then the process dies
			return failAll(len(ms), ctx.Err())
		}})
	<-entered
	stopA()
	applied := st.count()
	if applied != 10 {
		t.Fatalf("consumer a applied %d, want half the batch", applied)
	}
	b, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", Consumer: "b", DeadStream: dead, ClaimIdle: 200 * time.Millisecond,
		Handler: func(_ context.Context, ms []Message) []Outcome {
			for _, m := range ms {
				st.apply(m, "b") // idempotent: already-applied ones are skipped
			}
			return make([]Outcome, len(ms))
		}})
	eventually(t, 5*time.Second, "all settled", func() bool {
		return st.count() == 20 && pendingCount(t, rc, streams[0], "g") == 0
	})
	effects, _ := st.snapshot()
	for _, id := range ids {
		if n := effects[streams[0]+"/"+id]; n != 1 {
			t.Fatalf("%s applied %d times", id, n)
		}
	}
	if b.Stats().Reclaimed == 0 {
		t.Fatal("consumer b reclaimed nothing")
	}
	if len(deadEntries(t, rc, dead)) != 0 {
		t.Fatal("nothing should be dead")
	}
}

func TestRedisPoisonGoesToDeadStreamWhileOthersFlow(t *testing.T) {
	rc := redisClient(t)
	ctx := context.Background()
	streams, dead := names(t, rc, 1)
	st := newStore()
	c, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", Consumer: "c1", DeadStream: dead,
		ClaimIdle: 100 * time.Millisecond, MaxDeliveries: 3,
		Handler: func(_ context.Context, ms []Message) []Outcome {
			out := make([]Outcome, len(ms))
			for i, m := range ms {
				switch string(m.Body) {
				case "poison":
					out[i].Err = fmt.Errorf("cannot decode")
				case "reject":
					out[i] = Outcome{Err: fmt.Errorf("unknown event type"), Dead: true}
				case "boom":
					panic("handler bug")
				default:
					st.apply(m, "c1")
				}
			}
			return out
		}})
	ids := publishN(t, rc, streams[0], 5, func(i int) string { return []string{"good", "poison", "reject", "boom", "good"}[i] })
	noEvent, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: streams[0], Values: []any{"other", "x"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "good messages", func() bool { return st.count() == 2 })
	eventually(t, 5*time.Second, "dead letters", func() bool { return len(deadEntries(t, rc, dead)) == 4 })
	if n := pendingCount(t, rc, streams[0], "g"); n != 0 {
		t.Fatalf("%d pending", n)
	}
	byID := map[string]map[string]any{}
	for _, m := range deadEntries(t, rc, dead) {
		byID[m.Values["id"].(string)] = m.Values
	}
	want := map[string]struct{ reason, deliveries, event string }{
		ids[1]:  {"cannot decode", "3", "poison"},
		ids[2]:  {"unknown event type", "1", "reject"},
		ids[3]:  {"handler panic: handler bug", "3", "boom"},
		noEvent: {"no event field", "1", ""},
	}
	for id, w := range want {
		v := byID[id]
		if v == nil {
			t.Fatalf("%s not in dead stream", id)
		}
		if !strings.Contains(v["reason"].(string), w.reason) || v["deliveries"] != w.deliveries ||
			v["stream"] != streams[0] || v["consumer"] != "c1" || v["event"] != w.event {
			t.Fatalf("dead entry %s = %v, want %+v", id, v, w)
		}
	}
	if s := c.Stats(); s.Dead != 4 || s.Acked != 2 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestRedisTwoConsumersShareTheWork(t *testing.T) {
	rc := redisClient(t)
	streams, dead := names(t, rc, 2)
	st := newStore()
	handler := func(name string) Handler {
		return func(_ context.Context, ms []Message) []Outcome {
			time.Sleep(2 * time.Millisecond) // room for the other replica
			for _, m := range ms {
				if !st.apply(m, name) {
					t.Errorf("%s delivered twice", key(m))
				}
			}
			return make([]Outcome, len(ms))
		}
	}
	a, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", Consumer: "a", DeadStream: dead, Batch: 10, Handler: handler("a")})
	b, _ := start(t, RedisOptions{Client: rc, Streams: streams, Group: "g", Consumer: "b", DeadStream: dead, Batch: 10, Handler: handler("b")})
	for _, s := range streams {
		publishN(t, rc, s, 300, func(i int) string { return fmt.Sprint(i) })
	}
	eventually(t, 10*time.Second, "600 messages", func() bool { return a.Stats().Acked+b.Stats().Acked == 600 })
	if st.count() != 600 {
		t.Fatalf("effects = %d", st.count())
	}
	if a.Stats().Acked == 0 || b.Stats().Acked == 0 {
		t.Fatalf("work not shared: a=%+v b=%+v", a.Stats(), b.Stats())
	}
	if a.Stats().Dead+b.Stats().Dead != 0 {
		t.Fatal("unexpected dead letters")
	}
}

func TestRedisForgetsIdleConsumersWithNothingPending(t *testing.T) {
	rc := redisClient(t)
	ctx := context.Background()
	streams, dead := names(t, rc, 1)
	c, err := NewRedisConsumer(RedisOptions{Client: rc, Streams: streams, Group: "g", Consumer: "live", DeadStream: dead, Handler: func(context.Context, []Message) []Outcome { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ensureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, rc, streams[0], 1, func(int) string { return "x" })
	for _, name := range []string{"gone", "holding"} {
		if err := rc.XGroupCreateConsumer(ctx, streams[0], "g", name).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "holding", Streams: []string{streams[0], ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	c.consumerTTL = 10 * time.Millisecond
	c.pruneConsumers(ctx)
	cs, err := rc.XInfoConsumers(ctx, streams[0], "g").Result()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, x := range cs {
		left = append(left, x.Name)
	}
	if len(left) != 1 || left[0] != "holding" {
		t.Fatalf("consumers left = %v, want [holding] (it still has a pending entry)", left)
	}
}
