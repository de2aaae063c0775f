package identity

import (
	"testing"

	"github.com/rapportcrm/rapport/internal/apperr"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Jane.Doe@Example.CO.ZA ": "jane.doe@example.co.za",
		"a+tag@club.golf":           "a+tag@club.golf",
		"":                          "",
		"NULL":                      "",
		"n/a":                       "",
		"test@test.com":             "",
		"noreply@example.com":       "",
		"anonymous":                 "",
	} {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"not-an-email", "a@b", "a@@b.com", "Jane <jane@x.com>", "a@.com", "a@x..com"} {
		if _, err := NormalizeEmail(in); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("NormalizeEmail(%q): want INVALID, got %v", in, err)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ in, region, want string }{
		{"082 555 1234", "ZA", "+27825551234"},
		{"+27 (82) 555-1234", "US", "+27825551234"},
		{"07911 123456", "GB", "+447911123456"},
		{"000 000 0000", "ZA", ""},
		{"", "ZA", ""},
		{"unknown", "ZA", ""},
	} {
		got, err := NormalizePhone(tc.in, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q", tc.in, tc.region, got, err, tc.want)
		}
	}
	for _, in := range []string{"12", "phone", "+27 82", "+1 555 0100 999 999 999"} {
		if _, err := NormalizePhone(in, "ZA"); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("NormalizePhone(%q): want INVALID, got %v", in, err)
		}
	}
}

func TestSearchText(t *testing.T) {
	if got := SearchText(" Jane ", "", "DOE", "jane@x.com"); got != "jane doe jane@x.com" {
		t.Fatalf("SearchText = %q", got)
	}
}
