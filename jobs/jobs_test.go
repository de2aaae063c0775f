package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/internal/testenv"
)

// TestClaimOnce: of several replicas sharing Redis, one runs a given slot.
func TestClaimOnce(t *testing.T) {
	rdb, _, prefix := testenv.RedisClient(t)
	a, b := New(rdb, prefix, slog.Default()), New(rdb, prefix, slog.Default())
	ctx := context.Background()
	if !a.claim(ctx, "j", "202611221100", time.Minute) {
		t.Fatal("first claim refused")
	}
	if b.claim(ctx, "j", "202611221100", time.Minute) {
		t.Error("second replica claimed the same run")
	}
	if !b.claim(ctx, "j", "202611221200", time.Minute) {
		t.Error("next run refused")
	}
	if !New(nil, "", slog.Default()).claim(ctx, "j", "x", time.Minute) {
		t.Error("single replica refused")
	}
}
