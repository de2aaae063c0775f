package ctxtime

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !Sleep(ctx, 0) || !Sleep(ctx, time.Millisecond) {
		t.Fatal("a wait with a live context reported it ended early")
	}
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) || Sleep(ctx, 0) {
		t.Fatal("a wait with an ended context reported it passed")
	}
	if time.Since(start) > time.Second {
		t.Fatal("an ended context did not cut the wait short")
	}
}
