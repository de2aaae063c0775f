package timeline

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/activity"
)

// TestEncodeMatchesEncodingJSON checks that Encode writes what json.Marshal
// writes of the entry, byte for byte, whether or not the metadata comes
// encoded, for awkward strings and for the fields encoding/json omits.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	ch, dir, desc, src, staff := "email", activity.DirectionINBOUND, "line\nbreak\t<b>&</b> \"q\" \\ \u2028\u2029 \x01 é 🏌", "src-1", "staff-9"
	at := time.Date(2026, 12, 2, 1, 2, 3, 456789000, time.UTC)
	full := &ent.Activity{ID: uuid.New(), TenantID: uuid.New(), CustomerID: uuid.New(), Type: activity.TypeEMAIL_CLICKED,
		Category: activity.CategoryCOMMUNICATION, Channel: &ch, Direction: &dir, Title: "Clicked \"Offer\" <now>", Description: &desc,
		Metadata:      map[string]any{"url": "https://club.example/?a=1&b=2", "n": 3.5, "nested": map[string]any{"k": []any{"x", true, nil}}},
		SourceService: "messaging", SourceID: &src, StaffID: &staff, OccurredAt: at, CreatedAt: at.Add(time.Second)}
	bare := &ent.Activity{ID: uuid.New(), TenantID: uuid.New(), CustomerID: uuid.New(), OccurredAt: at.In(time.FixedZone("SAST", 2*3600))}
	bad := &ent.Activity{ID: uuid.New(), Title: "invalid \xff utf-8", Metadata: map[string]any{}}
	for name, a := range map[string]*ent.Activity{"full": full, "bare": bare, "invalid utf-8": bad} {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		meta, _ := json.Marshal(a.Metadata)
		if got, _ := Encode(a, meta); !bytes.Equal(got, want) {
			t.Errorf("%s with encoded metadata:\n got %s\nwant %s", name, got, want)
		}
		back, err := Decode(got)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if back.ID != a.ID || back.Title != a.Title && name != "invalid utf-8" || !back.OccurredAt.Equal(a.OccurredAt) {
			t.Errorf("%s: decoded %+v", name, back)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	ch, src := "email", "msg-1"
	a := &ent.Activity{ID: uuid.New(), TenantID: uuid.New(), CustomerID: uuid.New(), Type: activity.TypeEMAIL_OPENED,
		Category: activity.CategoryCOMMUNICATION, Channel: &ch, Title: "Opened an e-mail", SourceService: "messaging", SourceID: &src,
		Metadata:   map[string]any{"messageId": "m-123", "eventId": "evt-1", "eventType": "email.opened"},
		OccurredAt: time.Now(), CreatedAt: time.Now()}
	meta, _ := json.Marshal(a.Metadata)
	b.Run("Encode", func(b *testing.B) {
		for b.Loop() {
			_, _ = Encode(a, meta)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(a)
		}
	})
}
