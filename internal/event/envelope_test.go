package event

import (
	"strings"
	"testing"
)

const booked = `{"id":"tt-1","type":"teetime.booked","source":"teetime","tenant":"fairway","occurredAt":"2026-11-30T08:10:00Z",
"data":{"teetimePlayerId":"plr_1","email":"ann@club.golf","bookingId":"bk_1","teeTime":"2026-12-02T07:30:00Z","courseName":"Championship","players":4,"holes":18}}`

// TestDecodeRejectsTrailingData: an entry holds one envelope; anything
// after it means the producer wrote something other than it meant.
func TestDecodeRejectsTrailingData(t *testing.T) {
	if _, _, err := Decode([]byte(booked)); err != nil {
		t.Fatalf("valid envelope: %v", err)
	}
	for _, raw := range []string{booked + ` {"id":"tt-2"}`, booked + "garbage", `{"id":"tt-1"`} {
		_, _, err := Decode([]byte(raw))
		if err == nil || !strings.Contains(err.Error(), "not a JSON event envelope") {
			t.Errorf("%q: %v", raw[len(raw)-10:], err)
		}
	}
	// Unknown fields of the data are still refused.
	bad := strings.Replace(booked, `"holes":18`, `"holes":18,"hole":9`, 1)
	if _, _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), `unknown field "hole"`) {
		t.Errorf("unknown data field: %v", err)
	}
}

// BenchmarkDecode decodes a typical envelope (a tee-time booking).
func BenchmarkDecode(b *testing.B) {
	raw := []byte(booked)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
