package main

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestDeadLettersCommand lists dead letters, replays one to the stream it
// came from and drops the rest.
func TestDeadLettersCommand(t *testing.T) {
	rc, url, prefix := testenv.RedisClient(t)
	ctx := context.Background()
	dead, in := prefix+"rapport:dead", prefix+"rapport:in:scl"
	var ids []string
	for i, body := range []string{
		`{"id":"m-1","type":"member.created","source":"scl","tenant":"later-club","occurredAt":"2026-12-01T10:00:00Z","data":{"sclMemberId":1}}`,
		`not json`,
	} {
		id, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: dead, Values: []any{"stream", in, "id", "1-" + string(rune('0'+i)),
			"event", body, "reason", "tenant: no organization \"later-club\"", "deliveries", 1, "consumer", "c1"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	getenv := env(map[string]string{"RAPPORT_REDIS_URL": url})
	var out, errb strings.Builder
	do := func(args ...string) error {
		out.Reset()
		errb.Reset()
		return run(ctx, append([]string{"dead-letters"}, args...), getenv, &out, &errb)
	}

	if err := do("list", "--stream", dead); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"member.created scl/m-1 @later-club", `tenant: no organization "later-club"`, "(unreadable: not json)", "2 of 2 dead letters"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}
	if err := do("list", "--stream", dead, "--limit", "1"); err != nil || !strings.Contains(out.String(), "next page: --after "+ids[0]) {
		t.Errorf("paging: %v\n%s", err, out.String())
	}
	if err := do("show", "--stream", dead, ids[0]); err != nil || !strings.Contains(out.String(), `"sclMemberId":1`) {
		t.Errorf("show: %v\n%s", err, out.String())
	}

	if err := do("replay", "--stream", dead, ids[0]); err != nil || !strings.Contains(out.String(), "replayed 1 dead letters") {
		t.Fatalf("replay: %v\n%s%s", err, out.String(), errb.String())
	}
	back, err := rc.XRange(ctx, in, "-", "+").Result()
	if err != nil || len(back) != 1 || !strings.Contains(back[0].Values["event"].(string), `"id":"m-1"`) {
		t.Errorf("replayed entry on %s: %v %v", in, back, err)
	}
	if err := do("replay", "--stream", dead, ids[0]); err != nil || !strings.Contains(out.String(), "replayed 0 dead letters (1 no longer there)") {
		t.Errorf("replaying again: %v\n%s", err, out.String())
	}
	if err := do("replay", "--stream", dead); err == nil {
		t.Error("replay without ids or --all was accepted")
	}
	if err := do("drop", "--stream", dead, "--all"); err != nil || !strings.Contains(out.String(), "dropped 1 dead letters") {
		t.Errorf("drop --all: %v\n%s", err, out.String())
	}
	if n := rc.XLen(ctx, dead).Val(); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if err := run(ctx, []string{"dead-letters", "list"}, env(map[string]string{}), &out, &errb); err == nil || !strings.Contains(err.Error(), "RAPPORT_REDIS_URL") {
		t.Errorf("without Redis: %v", err)
	}
}
