package auth_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rapportcrm/rapport/internal/auth"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	first, err := auth.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 {
		t.Fatalf("secret is %d bytes, want 32", len(first))
	}
	path := filepath.Join(dir, auth.SecretFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode = %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != hex.EncodeToString(first) {
		t.Fatal("file does not hold the hex-encoded secret")
	}

	again, err := auth.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Fatal("secret changed between calls")
	}
}

func TestLoadSecretFormats(t *testing.T) {
	write := func(t *testing.T, content string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, auth.SecretFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	raw := "this is a raw secret, not hex, >= 32 bytes"
	got, err := auth.LoadOrCreateSecret(write(t, raw))
	if err != nil || string(got) != raw {
		t.Fatalf("raw: %q, %v", got, err)
	}
	key := bytes.Repeat([]byte{0xab}, 48)
	got, err = auth.LoadOrCreateSecret(write(t, hex.EncodeToString(key)+"\n"))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("hex: %x, %v", got, err)
	}
	for _, short := range []string{"", "short", hex.EncodeToString(make([]byte, 16))} {
		if _, err := auth.LoadOrCreateSecret(write(t, short)); err == nil {
			t.Errorf("accepted short secret %q", short)
		}
	}
}
