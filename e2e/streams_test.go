package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/bus"
	"github.com/rapportcrm/rapport/internal/testenv"
)

// redisTarget returns the PostgreSQL + Redis target, the production
// configuration these tests are about.
func redisTarget(t *testing.T) testenv.Target {
	t.Helper()
	for _, tg := range testenv.Targets(t) {
		if tg.RedisURL != "" {
			return tg
		}
	}
	t.Skip("needs RAPPORT_TEST_DATABASE_URL and RAPPORT_TEST_REDIS_URL")
	return testenv.Target{}
}

func redisOf(t *testing.T, tg testenv.Target) *redis.Client {
	opts, err := redis.ParseURL(tg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func fastRetries(c *app.Config) {
	c.EventClaimIdle = 300 * time.Millisecond
	c.EventMaxDeliveries = 3
	c.EventBatch = 100
}

func publish(t *testing.T, rdb *redis.Client, tg testenv.Target, stream string, body []byte) {
	t.Helper()
	if _, err := bus.Publish(context.Background(), rdb, tg.RedisPrefix+stream, body); err != nil {
		t.Fatal(err)
	}
}

func envJSON(v map[string]any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) count(token, query string, path ...any) int {
	var n int
	fmt.Sscan(str(s.ok(token, query, nil), path...), &n)
	return n
}

// TestStreamRedeliveryAndDeadLetters: a redelivered entry has one effect; a
// poison entry and an unparseable one land in the dead-letter stream with a
// reason while the rest flow.
func TestStreamRedeliveryAndDeadLetters(t *testing.T) {
	tg := redisTarget(t)
	s := startWith(t, tg, fastRetries)
	rdb := redisOf(t, tg)
	admin := s.token("club-stream", auth.RoleAdmin)

	publish(t, rdb, tg, bus.StreamSCL, envJSON(evt("m-1", "member.created", "scl", "club-stream", map[string]any{"sclMemberId": 1, "email": "ria@club.co.za"})))
	opened := envJSON(evt("o-1", "email.opened", "messaging", "club-stream", map[string]any{"messagingContactId": "mc-1", "email": "ria@club.co.za", "messageId": "x"}))
	publish(t, rdb, tg, bus.StreamMessaging, opened)
	publish(t, rdb, tg, bus.StreamMessaging, opened) // redelivered by the publisher
	publish(t, rdb, tg, bus.StreamSCL, envJSON(evt("p-1", "member.exploded", "scl", "club-stream", map[string]any{"sclMemberId": 1})))
	publish(t, rdb, tg, bus.StreamSCL, []byte(`{"id": "broken`))
	for i := range 20 {
		publish(t, rdb, tg, bus.StreamTeeTime, envJSON(evt(fmt.Sprintf("b-%d", i), "teetime.booked", "teetime", "club-stream", map[string]any{
			"teetimePlayerId": "tp-1", "email": "ria@club.co.za", "bookingId": fmt.Sprint(i), "teeTime": time.Now().Add(time.Hour).Format(time.RFC3339)})))
	}
	eventually(t, 15*time.Second, "events processed", func() bool {
		return s.count(admin, `{ syncLog(status: PROCESSED) { totalCount } }`, "syncLog", "totalCount") == 22
	})
	eventually(t, 15*time.Second, "dead letters", func() bool {
		n, _ := rdb.XLen(context.Background(), tg.RedisPrefix+bus.DefaultDead).Result()
		return n == 2
	})
	dead, _ := rdb.XRange(context.Background(), tg.RedisPrefix+bus.DefaultDead, "-", "+").Result()
	reasons := fmt.Sprint(dead[0].Values["reason"], " | ", dead[1].Values["reason"])
	if !strings.Contains(reasons, "unknown event type") || !strings.Contains(reasons, "JSON") {
		t.Errorf("dead-letter reasons: %s", reasons)
	}
	// The new profile was announced on the outbound stream, once.
	eventually(t, 10*time.Second, "crm.profile.created on rapport:out", func() bool {
		n, _ := rdb.XLen(context.Background(), tg.RedisPrefix+"rapport:out").Result()
		return n == 1
	})
	out, _ := rdb.XRange(context.Background(), tg.RedisPrefix+"rapport:out", "-", "+").Result()
	var produced map[string]any
	_ = json.Unmarshal([]byte(fmt.Sprint(out[0].Values["event"])), &produced)
	if produced["type"] != "crm.profile.created" || produced["id"] != out[0].Values["id"] {
		t.Errorf("produced event: %v", out[0].Values)
	}
	d := s.ok(admin, `{ customers(search: "ria@club.co.za") { edges { node { activityCount30d bookingCount30d timeline { totalCount } } } } }`, nil)
	node := get(d, "customers", "edges", 0, "node")
	if str(node, "timeline", "totalCount") != "22" || str(node, "activityCount30d") != "22" || str(node, "bookingCount30d") != "20" {
		t.Errorf("effects: %v", node)
	}
}

// TestStreamConsumerKilledMidBatch: a consumer dies holding entries, some of
// whose effects it had committed without acknowledging them. After another
// replica reclaims them, nothing is lost and nothing is applied twice.
func TestStreamConsumerKilledMidBatch(t *testing.T) {
	tg := redisTarget(t)
	rdb := redisOf(t, tg)
	ctx := context.Background()
	stream := tg.RedisPrefix + bus.StreamTeeTime

	// The first replica: its API is up, its consumer is the "ghost" below.
	s1 := startWith(t, tg, func(c *app.Config) { c.DisableConsumers = true })
	admin := s1.token("club-crash", auth.RoleAdmin)
	var bodies [][]byte
	for i := range 200 {
		b := envJSON(evt(fmt.Sprintf("b-%d", i), "teetime.booked", "teetime", "club-crash", map[string]any{
			"teetimePlayerId": fmt.Sprintf("tp-%d", i%10), "bookingId": fmt.Sprint(i), "teeTime": time.Now().Add(time.Hour).Format(time.RFC3339)}))
		bodies = append(bodies, b)
		publish(t, rdb, tg, bus.StreamTeeTime, b)
	}
	if err := rdb.XGroupCreateMkStream(ctx, stream, bus.DefaultGroup, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		t.Fatal(err)
	}
	// The ghost reads every entry, commits the effects of the first 120 and
	// dies before acknowledging any.
	got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: bus.DefaultGroup, Consumer: "ghost", Streams: []string{stream, ">"}, Count: 500}).Result()
	if err != nil || len(got[0].Messages) != 200 {
		t.Fatalf("ghost read: %v %d", err, len(got))
	}
	for _, r := range s1.app.Ingest.Process(ctx, bodies[:120]) {
		if r.Status != "processed" {
			t.Fatalf("ghost commit: %+v", r)
		}
	}

	// A second replica starts and reclaims what the ghost left pending.
	s2 := startWith(t, tg, fastRetries)
	_ = s2
	eventually(t, 20*time.Second, "all entries acknowledged", func() bool {
		p, err := rdb.XPending(ctx, stream, bus.DefaultGroup).Result()
		return err == nil && p.Count == 0
	})
	if n := s1.count(admin, `{ syncLog { totalCount } }`, "syncLog", "totalCount"); n != 200 {
		t.Errorf("%d events recorded, want 200", n)
	}
	d := s1.ok(admin, `{ customers(first: 20) { totalCount edges { node { bookingCount30d timeline { totalCount } } } } }`, nil)
	if str(d, "customers", "totalCount") != "10" {
		t.Fatalf("profiles: %v", d)
	}
	for _, e := range get(d, "customers", "edges").([]any) {
		if str(e, "node", "timeline", "totalCount") != "20" || str(e, "node", "bookingCount30d") != "20" {
			t.Errorf("a profile has %s entries and %s bookings, want 20 each", str(e, "node", "timeline", "totalCount"), str(e, "node", "bookingCount30d"))
		}
	}
}

// TestStreamConcurrentNewPersonAcrossReplicas: two replicas consume 50
// events about one new person at once; one profile results.
func TestStreamConcurrentNewPersonAcrossReplicas(t *testing.T) {
	tg := redisTarget(t)
	rdb := redisOf(t, tg)
	small := func(c *app.Config) { fastRetries(c); c.EventBatch = 5 }
	s1 := startWith(t, tg, small)
	startWith(t, tg, small)
	admin := s1.token("club-race", auth.RoleAdmin)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := []string{bus.StreamSCL, bus.StreamTeeTime, bus.StreamMessaging}[i%3]
			src := map[string]string{bus.StreamSCL: "scl", bus.StreamTeeTime: "teetime", bus.StreamMessaging: "messaging"}[stream]
			typ := map[string]string{"scl": "member.updated", "teetime": "player.created", "messaging": "contactPreference.updated"}[src]
			data := map[string]any{"email": "brand.new@club.co.za", "sclMemberId": 77, "teetimePlayerId": "tp-77", "messagingContactId": "mc-77", "emailOptIn": true}
			switch src {
			case "scl":
				delete(data, "teetimePlayerId")
				delete(data, "messagingContactId")
				delete(data, "emailOptIn")
			case "teetime":
				delete(data, "sclMemberId")
				delete(data, "messagingContactId")
				delete(data, "emailOptIn")
			case "messaging":
				delete(data, "sclMemberId")
				delete(data, "teetimePlayerId")
			}
			publish(t, rdb, tg, stream, envJSON(evt(fmt.Sprintf("e-%d", i), typ, src, "club-race", data)))
		}()
	}
	wg.Wait()
	eventually(t, 20*time.Second, "50 events processed", func() bool {
		return s1.count(admin, `{ syncLog { totalCount } }`, "syncLog", "totalCount") == 50
	})
	d := s1.ok(admin, `{ customers { totalCount edges { node { email sclMemberID teetimePlayerID messagingContactID emailOptIn } } } }`, nil)
	if str(d, "customers", "totalCount") != "1" {
		t.Fatalf("profiles: %v", d)
	}
	n := get(d, "customers", "edges", 0, "node")
	if str(n, "sclMemberID") != "77" || str(n, "teetimePlayerID") != "tp-77" || str(n, "messagingContactID") != "mc-77" || str(n, "emailOptIn") != "true" {
		t.Errorf("profile: %v", n)
	}
}

// TestSubscriptionAcrossReplicas: a subscriber on one replica receives a
// timeline entry ingested by another.
func TestSubscriptionAcrossReplicas(t *testing.T) {
	tg := redisTarget(t)
	s1 := startWith(t, tg, fastRetries)
	s2 := startWith(t, tg, fastRetries)
	admin := s1.token("club-fan", auth.RoleAdmin)
	_, res := s2.postEvents(admin, evt("m-1", "member.created", "scl", "club-fan", map[string]any{"sclMemberId": 1, "email": "fan@club.co.za"}))
	id := str(res["results"], 0, "customerId")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s1.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	_ = wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + admin}})
	readType(t, ctx, conn, "connection_ack")
	_ = wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "start", "payload": map[string]any{
		"query": `subscription($id: ID!) { timelineUpdated(customerID: $id) { type title } }`, "variables": map[string]any{"id": id}}})
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			s2.postEvents(admin, evt(fmt.Sprintf("c-%d", i), "email.clicked", "messaging", "club-fan", map[string]any{
				"messagingContactId": "mc", "email": "fan@club.co.za", "messageId": fmt.Sprint(i), "url": "https://club.co.za/open-day"}))
			time.Sleep(100 * time.Millisecond)
		}
	}()
	// The member.created entry posted before subscribing may still be on
	// its way from s2 and arrive first: it came across too, but the clicks
	// are the entries certain to be ingested after the subscription began.
	for {
		m := readType(t, ctx, conn, "data")
		switch typ := str(m, "payload", "data", "timelineUpdated", "type"); typ {
		case "EMAIL_CLICKED":
			return
		case "MEMBER_CREATED":
			continue
		default:
			t.Fatalf("got %v", m)
		}
	}
}
