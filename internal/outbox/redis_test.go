package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/testenv"
)

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

// The relay end to end on both databases, into a Redis stream unique to the
// test: entries carry the envelope and the event id, in write order.
func TestRelayToRedisStream(t *testing.T) {
	rc := redisClient(t)
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		ctx := context.Background()
		var b [4]byte
		_, _ = rand.Read(b[:])
		stream := "test:" + t.Name() + ":" + hex.EncodeToString(b[:])
		t.Cleanup(func() { rc.Del(context.Background(), stream) })

		db := open(t, tg)
		org := uuid.New()
		ids := write(t, db, org, 3)
		r := newRelay(t, db, &RedisPublisher{Client: rc, Stream: stream}, RelayOptions{})
		if n, err := r.Step(ctx); n != 3 || err != nil {
			t.Fatalf("step = %d, %v", n, err)
		}
		entries, err := rc.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var got []uuid.UUID
		for i, m := range entries {
			var e Envelope
			if err := json.Unmarshal([]byte(m.Values["event"].(string)), &e); err != nil {
				t.Fatal(err)
			}
			if m.Values["id"] != e.ID.String() || e.Tenant != org.String() || e.Source != Source ||
				string(e.Data) != `{"n":`+string(rune('0'+i))+`}` || time.Since(e.OccurredAt) > time.Minute {
				t.Fatalf("entry %d = %v", i, m.Values)
			}
			got = append(got, e.ID)
		}
		if !reflect.DeepEqual(got, ids) {
			t.Fatalf("stream holds %v, want %v", got, ids)
		}
	})
}
