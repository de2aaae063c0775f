package event

import (
	"strings"
	"testing"
	"time"
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
	// Text that is not UTF-8 is refused, not stored with U+FFFD, and the
	// envelope comes back so the rejection is recorded against its id.
	latin1 := strings.Replace(booked, `"courseName":"Championship"`, "\"courseName\":\"Ch\xe2teau\"", 1)
	if env, _, err := Decode([]byte(latin1)); err == nil || !strings.Contains(err.Error(), "not UTF-8") || env == nil || env.ID != "tt-1" {
		t.Errorf("latin-1 envelope: %v %+v", err, env)
	}
	// Unknown fields of the data are still refused.
	bad := strings.Replace(booked, `"holes":18`, `"holes":18,"hole":9`, 1)
	if _, _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), `unknown field "hole"`) {
		t.Errorf("unknown data field: %v", err)
	}
}

// TestCheckAgreesWithDecode: an event built in Go is normalized and judged
// as the same event read from JSON.
func TestCheckAgreesWithDecode(t *testing.T) {
	env, p, err := Decode([]byte(booked))
	if err != nil {
		t.Fatal(err)
	}
	built := Envelope{ID: " tt-1 ", Type: "teetime.booked", Source: " TeeTime", Tenant: "fairway", OccurredAt: env.OccurredAt.Local()}
	if err := Check(&built, p); err != nil {
		t.Fatalf("valid event: %v", err)
	}
	if built.ID != env.ID || built.Source != env.Source || built.OccurredAt.Location() != time.UTC {
		t.Errorf("not normalized as Decode does: %+v", built)
	}
	bad := *p.(*TeeTimeBooked)
	nine := 9
	bad.Players = &nine
	for _, c := range []struct {
		name string
		env  Envelope
		p    Payload
		want string
	}{
		{"no id", Envelope{Type: "teetime.booked", Source: "teetime", Tenant: "fairway", OccurredAt: env.OccurredAt}, p, "id: missing"},
		{"wrong source", Envelope{ID: "x", Type: "teetime.booked", Source: "scl", Tenant: "fairway", OccurredAt: env.OccurredAt}, p, "teetime.booked events come from teetime"},
		{"no payload", *env, nil, "data: missing"},
		{"nil payload", *env, (*TeeTimeBooked)(nil), "data: missing"},
		{"other type's payload", *env, &MemberCreated{}, "is a *event.TeeTimeBooked, not a *event.MemberCreated"},
		{"invalid payload", *env, &bad, "data.players"},
	} {
		e := c.env
		err := Check(&e, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if _, ok := err.(*Error); err != nil && !ok {
			t.Errorf("%s: %T is not an *Error (not dead-lettered as permanent)", c.name, err)
		}
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
