package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServeRefusesWithoutSecret(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, env(nil), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "RAPPORT_JWT_SECRET") {
		t.Fatalf("serve without a secret: got %v", err)
	}
}

func TestTokenAndMigrate(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--data-dir", dir}, env(nil), &out, &out); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate output: %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "--data-dir", dir, "--tenant", "pinehurst", "--role", "TENANT_ADMIN"}, env(nil), &out, &out); err != nil {
		t.Fatalf("token: %v", err)
	}
	if tok := strings.TrimSpace(out.String()); strings.Count(tok, ".") != 2 {
		t.Fatalf("token output is not a JWT: %q", tok)
	}
	if err := run(context.Background(), []string{"token", "--data-dir", dir, "--tenant", "pinehurst", "--role", "janitor"}, env(nil), &out, &out); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	out.Reset()
	if err := run(context.Background(), []string{"seed", "--data-dir", dir, "--tenant", "pinehurst", "--profiles", "300"}, env(nil), &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if !strings.Contains(out.String(), "seeded 300 profiles") {
		t.Fatalf("seed output: %q", out.String())
	}
}
