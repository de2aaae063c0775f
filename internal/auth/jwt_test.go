package auth_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// wantErr fails unless err is UNAUTHENTICATED with the message.
func wantErr(t *testing.T, p *auth.Principal, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("verified %+v, want error %q", p, msg)
	}
	if apperr.CodeOf(err) != apperr.Unauthenticated || err.Error() != msg {
		t.Fatalf("error = %s %q, want UNAUTHENTICATED %q", apperr.CodeOf(err), err, msg)
	}
}

// signHS signs arbitrary claims, for tokens IssueHS256 would never make.
func signHS(t *testing.T, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHS256RoundTrip(t *testing.T) {
	now := time.Now()
	in := auth.Principal{UserID: "user-1", Tenant: "3f0c5b0e-8d7e-4a51-9d0e-6f3a3c1b2a10", Role: auth.RoleTenantAdmin}
	tok, err := auth.IssueHS256(secret, in, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.NewHS256Verifier(secret).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Kind = auth.KindUser
	if *p != want {
		t.Fatalf("principal = %+v, want %+v", *p, want)
	}
}

func TestIssueHS256Refuses(t *testing.T) {
	ok := auth.Principal{UserID: "u", Tenant: "acme", Role: auth.RoleViewer}
	now := time.Now()
	if _, err := auth.IssueHS256([]byte("short"), ok, time.Hour, now); err == nil {
		t.Error("issued with a short secret")
	}
	bad := []auth.Principal{
		{Tenant: "acme", Role: auth.RoleViewer},
		{UserID: "u", Role: auth.RoleViewer},
		{UserID: "u", Tenant: "acme", Role: "root"},
	}
	for _, p := range bad {
		if _, err := auth.IssueHS256(secret, p, time.Hour, now); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("IssueHS256(%+v) = %v, want INVALID", p, err)
		}
	}
	if _, err := auth.IssueHS256(secret, ok, 0, now); err == nil {
		t.Error("issued with zero ttl")
	}
}

func TestHS256Rejects(t *testing.T) {
	ctx := context.Background()
	v := auth.NewHS256Verifier(secret)
	p := auth.Principal{UserID: "u", Tenant: "acme", Role: auth.RoleMember}

	t.Run("expired", func(t *testing.T) {
		tok, _ := auth.IssueHS256(secret, p, time.Minute, time.Now().Add(-2*time.Minute))
		got, err := v.Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: expired")
	})
	t.Run("expired within leeway", func(t *testing.T) {
		tok, _ := auth.IssueHS256(secret, p, time.Minute, time.Now().Add(-61*time.Second))
		if _, err := auth.NewHS256Verifier(secret, auth.WithLeeway(time.Minute)).Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("injected clock", func(t *testing.T) {
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		tok, _ := auth.IssueHS256(secret, p, time.Minute, now)
		at := func(d time.Duration) auth.Option { return auth.WithClock(func() time.Time { return now.Add(d) }) }
		if _, err := auth.NewHS256Verifier(secret, at(30*time.Second)).Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := auth.NewHS256Verifier(secret, at(2*time.Minute)).Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: expired")
	})
	t.Run("wrong secret", func(t *testing.T) {
		tok, _ := auth.IssueHS256([]byte("another secret of at least 32 bytes!"), p, time.Hour, time.Now())
		got, err := v.Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: signature")
	})
	t.Run("tampered claims", func(t *testing.T) {
		tok, _ := auth.IssueHS256(secret, p, time.Hour, time.Now())
		parts := strings.Split(tok, ".")
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u","tenant":"acme","role":"owner","exp":4102444800}`))
		got, err := v.Verify(ctx, strings.Join(parts, "."))
		wantErr(t, got, err, "invalid token: signature")
	})
	t.Run("alg none", func(t *testing.T) {
		claims := jwt.MapClaims{"sub": "u", "tenant": "acme", "role": "owner", "exp": time.Now().Add(time.Hour).Unix()}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: algorithm")
		// The same with the signature of a real token left on.
		real, _ := auth.IssueHS256(secret, p, time.Hour, time.Now())
		got, err = v.Verify(ctx, strings.TrimSuffix(tok, ".")+"."+strings.Split(real, ".")[2])
		wantErr(t, got, err, "invalid token: algorithm")
	})
	t.Run("no expiry", func(t *testing.T) {
		got, err := v.Verify(ctx, signHS(t, secret, jwt.MapClaims{"sub": "u", "tenant": "acme", "role": "owner"}))
		wantErr(t, got, err, "invalid token: no expiry")
	})
	t.Run("not yet valid", func(t *testing.T) {
		got, err := v.Verify(ctx, signHS(t, secret, jwt.MapClaims{"sub": "u", "tenant": "acme", "role": "owner",
			"nbf": time.Now().Add(time.Hour).Unix(), "exp": time.Now().Add(2 * time.Hour).Unix()}))
		wantErr(t, got, err, "invalid token: not yet valid")
	})
	t.Run("malformed", func(t *testing.T) {
		for _, tok := range []string{"", "abc", "a.b.c", "e30.e30."} {
			got, err := v.Verify(ctx, tok)
			if err == nil || apperr.CodeOf(err) != apperr.Unauthenticated {
				t.Errorf("Verify(%q) = %+v, %v", tok, got, err)
			}
		}
	})
	t.Run("short secret fails closed", func(t *testing.T) {
		short := []byte("tiny")
		tok := signHS(t, short, jwt.MapClaims{"sub": "u", "tenant": "acme", "role": "owner", "exp": time.Now().Add(time.Hour).Unix()})
		got, err := auth.NewHS256Verifier(short).Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: signature")
		tok = signHS(t, []byte{}, jwt.MapClaims{"sub": "u", "tenant": "acme", "role": "owner", "exp": time.Now().Add(time.Hour).Unix()})
		got, err = auth.NewHS256Verifier(nil).Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: signature")
	})
}

func TestIssuerAndAudience(t *testing.T) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Unix()
	base := func(extra jwt.MapClaims) string {
		c := jwt.MapClaims{"sub": "u", "tenant": "acme", "role": "viewer", "exp": exp}
		for k, v := range extra {
			c[k] = v
		}
		return signHS(t, secret, c)
	}
	v := auth.NewHS256Verifier(secret, auth.WithIssuer("https://idp.example"), auth.WithAudience("rapport"))
	if _, err := v.Verify(ctx, base(jwt.MapClaims{"iss": "https://idp.example", "aud": []string{"other", "rapport"}})); err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(ctx, base(jwt.MapClaims{"aud": "rapport"}))
	wantErr(t, got, err, "invalid token: issuer")
	got, err = v.Verify(ctx, base(jwt.MapClaims{"iss": "https://evil.example", "aud": "rapport"}))
	wantErr(t, got, err, "invalid token: issuer")
	got, err = v.Verify(ctx, base(jwt.MapClaims{"iss": "https://idp.example", "aud": "other"}))
	wantErr(t, got, err, "invalid token: audience")
	// Without the options, iss and aud are not checked.
	if _, err := auth.NewHS256Verifier(secret).Verify(ctx, base(jwt.MapClaims{"iss": "x", "aud": "y"})); err != nil {
		t.Fatal(err)
	}
}

func TestClaimFallbacks(t *testing.T) {
	ctx := context.Background()
	v := auth.NewHS256Verifier(secret)
	exp := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name   string
		claims jwt.MapClaims
		tenant string
		role   auth.Role
		err    string
	}{
		{"tenant", jwt.MapClaims{"tenant": "acme", "role": "owner"}, "acme", auth.RoleOwner, ""},
		{"tenant_id", jwt.MapClaims{"tenant_id": "t-1", "role": "admin"}, "t-1", auth.RoleAdmin, ""},
		{"tid", jwt.MapClaims{"tid": "t-2", "role": "member"}, "t-2", auth.RoleMember, ""},
		{"org_id", jwt.MapClaims{"org_id": "t-3", "role": "viewer"}, "t-3", auth.RoleViewer, ""},
		{"numeric org_id", jwt.MapClaims{"org_id": 42, "role": "viewer"}, "42", auth.RoleViewer, ""},
		{"tenant wins", jwt.MapClaims{"tenant": "a", "tenant_id": "b", "tid": "c", "org_id": "d", "role": "viewer"}, "a", auth.RoleViewer, ""},
		{"empty tenant falls back", jwt.MapClaims{"tenant": " ", "org_id": "d", "role": "viewer"}, "d", auth.RoleViewer, ""},
		{"upper-case role", jwt.MapClaims{"tenant": "a", "role": "TENANT_ADMIN"}, "a", auth.RoleTenantAdmin, ""},
		{"roles array", jwt.MapClaims{"tenant": "a", "roles": []any{"offline_access", 7, "tenant-user", "owner"}}, "a", auth.RoleTenantUser, ""},
		{"role as array", jwt.MapClaims{"tenant": "a", "role": []string{"viewer"}}, "a", auth.RoleViewer, ""},
		{"roles as string", jwt.MapClaims{"tenant": "a", "roles": "member"}, "a", auth.RoleMember, ""},
		{"bad role, good roles", jwt.MapClaims{"tenant": "a", "role": "superuser", "roles": []string{"viewer"}}, "a", auth.RoleViewer, ""},
		{"unknown role", jwt.MapClaims{"tenant": "a", "role": "root", "roles": []string{"god"}}, "", "", `unknown role "root"`},
		{"no role", jwt.MapClaims{"tenant": "a"}, "", "", "token has no role"},
		{"no tenant", jwt.MapClaims{"role": "owner"}, "", "", "token has no tenant"},
		{"no subject", jwt.MapClaims{"sub": "", "tenant": "a", "role": "owner"}, "", "", "token has no subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := jwt.MapClaims{"sub": "user-9", "exp": exp}
			for k, val := range tt.claims {
				c[k] = val
			}
			p, err := v.Verify(ctx, signHS(t, secret, c))
			if tt.err != "" {
				wantErr(t, p, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != "user-9" || p.Tenant != tt.tenant || p.Role != tt.role || p.Kind != auth.KindUser {
				t.Fatalf("principal = %+v, want tenant %q role %q", *p, tt.tenant, tt.role)
			}
		})
	}
}
