package pgarray

import (
	"testing"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// TestTextMatchesLibPQ checks the literal against lib/pq's encoder, which
// PostgreSQL is known to read back exactly.
func TestTextMatchesLibPQ(t *testing.T) {
	cases := [][]string{
		{},
		{""},
		{"plain", "with space", `quo"te`, `back\slash`, `both\"`, "comma,brace{}", "NULL", "ünï©ødé", "\t\n"},
	}
	for _, c := range cases {
		got, err := Text(c).Value()
		if err != nil {
			t.Fatal(err)
		}
		want, err := pq.StringArray(c).Value()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Text(%q) = %v, want %v", c, got, want)
		}
	}
	if v, _ := Text(nil).Value(); v != nil {
		t.Errorf("Text(nil) = %v, want NULL", v)
	}
}

// TestUUIDMatchesCanonicalForm checks the literal against uuid.String.
func TestUUIDMatchesCanonicalForm(t *testing.T) {
	ids := []uuid.UUID{uuid.Nil, uuid.MustParse("01a2344a-3143-7859-8250-65be884a2d4b"), uuid.New()}
	got, _ := UUID(ids).Value()
	want := "{" + ids[0].String() + "," + ids[1].String() + "," + ids[2].String() + "}"
	if got != want {
		t.Errorf("UUID = %v, want %v", got, want)
	}
	if v, _ := UUID([]uuid.UUID{}).Value(); v != "{}" {
		t.Errorf("empty UUID = %v", v)
	}
	if v, _ := UUID(nil).Value(); v != nil {
		t.Errorf("UUID(nil) = %v, want NULL", v)
	}
}

func BenchmarkText(b *testing.B) {
	a := make([]string, 1000)
	for i := range a {
		a[i] = "teetime-booking-" + uuid.NewString()
	}
	b.Run("pgarray", func(b *testing.B) {
		for b.Loop() {
			_, _ = Text(a).Value()
		}
	})
	b.Run("libpq", func(b *testing.B) {
		for b.Loop() {
			_, _ = pq.StringArray(a).Value()
		}
	})
}
