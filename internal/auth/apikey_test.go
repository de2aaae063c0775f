package auth_test

import (
	"bytes"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"

	"github.com/rapportcrm/rapport/internal/auth"
)

func TestAPIKeys(t *testing.T) {
	shape := regexp.MustCompile(`^rpk_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$`)
	seen := map[string]bool{}
	for range 200 {
		plain, prefix, hash, err := auth.GenerateAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(plain) {
			t.Fatalf("key %q has the wrong shape", plain)
		}
		if seen[plain] {
			t.Fatalf("key %q generated twice", plain)
		}
		seen[plain] = true
		if got, ok := auth.ParseAPIKey(plain); !ok || got != prefix {
			t.Fatalf("ParseAPIKey(%q) = %q, %v; want %q", plain, got, ok, prefix)
		}
		sum := sha256.Sum256([]byte(plain))
		if !bytes.Equal(hash, sum[:]) || !bytes.Equal(auth.HashAPIKey(plain), hash) {
			t.Fatal("hash is not the SHA-256 of the key")
		}
		if !auth.APIKeyMatches(plain, hash) || auth.APIKeyMatches(plain+"x", hash) || auth.APIKeyMatches(plain, hash[:16]) {
			t.Fatal("APIKeyMatches disagrees with HashAPIKey")
		}
	}

	good := "rpk_AbCd1234_" + strings.Repeat("z", 32)
	if p, ok := auth.ParseAPIKey(good); !ok || p != "AbCd1234" {
		t.Fatalf("ParseAPIKey(%q) = %q, %v", good, p, ok)
	}
	for _, bad := range []string{
		"",
		"rpk_",
		"rpk_AbCd1234_" + strings.Repeat("z", 31),
		"rpk_AbCd1234_" + strings.Repeat("z", 33),
		"rpk_AbCd123_" + strings.Repeat("z", 33),
		"rpk_AbCd1234-" + strings.Repeat("z", 32),
		"RPK_AbCd1234_" + strings.Repeat("z", 32),
		"rpk_AbCd12-4_" + strings.Repeat("z", 32),
		"rpk_AbCd1234_" + strings.Repeat("z", 31) + "=",
		" " + good,
		"eyJhbGciOiJIUzI1NiJ9.e30.sig",
	} {
		if p, ok := auth.ParseAPIKey(bad); ok {
			t.Errorf("ParseAPIKey(%q) accepted, prefix %q", bad, p)
		}
	}
}
