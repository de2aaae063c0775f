package pubsub

import (
	"bufio"
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

func redisOptions(t *testing.T) *redis.Options {
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
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		if testenv.Required() {
			t.Fatalf("redis unreachable: %v", err)
		}
		t.Skipf("redis unreachable: %v", err)
	}
	return opts
}

func random() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// replica starts a RedisHub on its own connection, named so the test can
// find (and kill) exactly its connections, with a channel prefix unique to
// the test so parallel packages never hear each other.
func replica(t *testing.T, prefix, name string, buffer int) (*RedisHub, *redis.Client) {
	t.Helper()
	opts := redisOptions(t)
	opts.ClientName = name
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	h, err := NewRedisHub(RedisHubOptions{
		Client: c, Broker: NewBroker(buffer), Prefix: prefix,
		HealthCheck: time.Second,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	})
	select {
	case <-h.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("hub never subscribed")
	}
	return h, c
}

func receive(t *testing.T, ch <-chan []byte, timeout time.Duration) (string, bool) {
	t.Helper()
	select {
	case m, ok := <-ch:
		return string(m), ok
	case <-time.After(timeout):
		return "", false
	}
}

func TestRedisHubDeliversAcrossReplicasOnce(t *testing.T) {
	prefix := "test:ps:" + random() + ":"
	a, _ := replica(t, prefix, "test-"+random(), 16)
	b, _ := replica(t, prefix, "test-"+random(), 16)
	ctx := context.Background()
	onB, cancelB := b.Subscribe("customer:1")
	defer cancelB()
	onA, cancelA := a.Subscribe("customer:1")
	defer cancelA()
	other, cancelOther := b.Subscribe("customer:2")
	defer cancelOther()

	if err := a.Publish(ctx, "customer:1", []byte("changed")); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan []byte{"B": onB, "A (its own message)": onA} {
		if m, ok := receive(t, ch, 2*time.Second); !ok || m != "changed" {
			t.Fatalf("subscriber on %s got %q, %v", name, m, ok)
		}
		if m, ok := receive(t, ch, 100*time.Millisecond); ok {
			t.Fatalf("subscriber on %s got a second delivery %q", name, m)
		}
	}
	if m, ok := receive(t, other, 100*time.Millisecond); ok {
		t.Fatalf("another topic's subscriber got %q", m)
	}
}

func TestRedisHubDropsSlowSubscriberWithoutBlockingPublisher(t *testing.T) {
	prefix := "test:ps:" + random() + ":"
	// The buffer leaves the fast reader ample slack (the race detector
	// slows it down) while the slow one, which never reads, overflows.
	const buffer, total = 128, 400
	a, _ := replica(t, prefix, "test-"+random(), 16)
	b, _ := replica(t, prefix, "test-"+random(), buffer)
	ctx := context.Background()
	slow, cancelSlow := b.Subscribe("feed")
	defer cancelSlow()
	fast, cancelFast := b.Subscribe("feed")
	var mu sync.Mutex
	var got []string
	received := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range fast {
			mu.Lock()
			got = append(got, string(m))
			mu.Unlock()
		}
	})

	// Published in chunks the fast reader catches up with, so that only
	// the slow subscriber can overflow, however the scheduler runs them.
	var publishing time.Duration
	for i := 0; i < total; i += 50 {
		start := time.Now()
		for j := i; j < i+50; j++ {
			if err := a.Publish(ctx, "feed", []byte(fmt.Sprint(j))); err != nil {
				t.Fatal(err)
			}
		}
		publishing += time.Since(start)
		deadline := time.Now().Add(5 * time.Second)
		for received() < i+50 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if publishing > 5*time.Second {
		t.Fatalf("publishing took %s: the slow subscriber held the publisher up", publishing)
	}
	// The slow one holds what fit in its buffer, then its channel is closed.
	n := 0
	for range slow {
		n++
	}
	if n != buffer {
		t.Fatalf("slow subscriber had %d buffered messages, want %d", n, buffer)
	}
	if s := b.Broker().Subscribers("feed"); s != 1 {
		t.Fatalf("%d subscribers left, want the fast one", s)
	}
	cancelFast()
	wg.Wait()
	if len(got) != total || got[0] != "0" || got[total-1] != fmt.Sprint(total-1) {
		t.Fatalf("fast subscriber got %d messages", len(got))
	}
}

// killConnections kills this test's own connections (by client name), never
// another package's.
func killConnections(t *testing.T, c *redis.Client, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		var id, cname string
		for _, f := range strings.Fields(sc.Text()) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(f, "name="); ok {
				cname = v
			}
		}
		if cname == name {
			if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
				n++
			}
		}
	}
	return n
}

func TestRedisHubResubscribesAfterConnectionLoss(t *testing.T) {
	prefix := "test:ps:" + random() + ":"
	a, ca := replica(t, prefix, "test-"+random(), 16)
	nameB := "test-" + random()
	b, _ := replica(t, prefix, nameB, 16)
	ch, cancel := b.Subscribe("t")
	defer cancel()
	if killConnections(t, ca, nameB) == 0 {
		t.Fatal("found no connection of replica B to kill")
	}
	// Messages sent while B reconnects are lost (pub/sub is at most once):
	// keep publishing until one arrives.
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := a.Publish(ctx, "t", []byte("after")); err != nil {
			t.Fatal(err)
		}
		if m, ok := receive(t, ch, 100*time.Millisecond); ok && m == "after" {
			return
		}
	}
	t.Fatal("replica B never heard from A again after losing its connection")
}

func TestLocalHubIsTheBroker(t *testing.T) {
	b := NewBroker(4)
	var h Hub = NewLocalHub(b)
	ch, cancel := h.Subscribe("x")
	defer cancel()
	b.Publish("x", []byte("old API"))
	if err := h.Publish(context.Background(), "x", []byte("hub API")); err != nil {
		t.Fatal(err)
	}
	if m1, m2 := string(<-ch), string(<-ch); m1 != "old API" || m2 != "hub API" {
		t.Fatalf("got %q, %q", m1, m2)
	}
}

// TestRedisHubFollowsOnlyItsTopics checks that a replica subscribes in
// Redis to the topics its subscribers follow, and only while they do, and
// that a message published as soon as Subscribe returns is heard: the
// subscription is confirmed by then.
func TestRedisHubFollowsOnlyItsTopics(t *testing.T) {
	prefix := "test:ps:" + random() + ":"
	a, ca := replica(t, prefix, "test-"+random(), 16)
	b, _ := replica(t, prefix, "test-"+random(), 16)
	ctx := context.Background()
	numsub := func(topic string) int64 {
		t.Helper()
		res, err := ca.PubSubNumSub(ctx, prefix+topic).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res[prefix+topic]
	}
	if n := numsub("x"); n != 0 {
		t.Fatalf("%d subscriptions to a topic nobody follows", n)
	}
	ch1, cancel1 := b.Subscribe("x")
	ch2, cancel2 := b.Subscribe("x")
	if err := a.Publish(ctx, "x", []byte("at once")); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan []byte{ch1, ch2} {
		if m, ok := receive(t, ch, 2*time.Second); !ok || m != "at once" {
			t.Fatalf("a message published as Subscribe returned: got %q, %v", m, ok)
		}
	}
	if n := numsub("x"); n != 1 {
		t.Fatalf("%d Redis subscriptions for two local subscribers of one replica, want 1", n)
	}
	if n := numsub("y"); n != 0 {
		t.Fatalf("replica subscribed to a topic nobody follows: %d", n)
	}
	cancel1()
	cancel1() // idempotent
	if n := numsub("x"); n != 1 {
		t.Fatalf("unsubscribed in Redis while a local subscriber remains (%d)", n)
	}
	cancel2()
	// The unsubscribe is asynchronous on the connection; Redis applies it
	// shortly.
	deadline := time.Now().Add(2 * time.Second)
	for numsub("x") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed in Redis after the last local subscriber left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
