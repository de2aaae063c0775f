package auth_test

import (
	"context"
	"testing"

	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/auth"
)

func TestPrincipalContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := auth.FromContext(ctx); ok {
		t.Fatal("empty context carries a principal")
	}
	if _, ok := auth.FromContext(auth.WithPrincipal(ctx, nil)); ok {
		t.Fatal("nil principal reported as present")
	}
	p := &auth.Principal{UserID: "u1", Tenant: "acme", Role: auth.RoleMember, Kind: auth.KindUser}
	got, ok := auth.FromContext(auth.WithPrincipal(ctx, p))
	if !ok || got != p {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
}

func TestRequire(t *testing.T) {
	ctx := context.Background()
	with := func(r auth.Role) context.Context {
		return auth.WithPrincipal(ctx, &auth.Principal{UserID: "u1", Tenant: "acme", Role: r})
	}
	tests := []struct {
		name  string
		ctx   context.Context
		scope auth.Scope
		want  apperr.Code // "" for allowed
		msg   string
	}{
		{"anonymous", ctx, auth.ScopeRead, apperr.Unauthenticated, "authentication required"},
		{"viewer reads", with(auth.RoleViewer), auth.ScopeRead, "", ""},
		{"viewer writes", with(auth.RoleViewer), auth.ScopeWrite, apperr.Forbidden, "role viewer lacks scope crm:write"},
		{"member admin", with(auth.RoleMember), auth.ScopeAdmin, apperr.Forbidden, "role member lacks scope crm:admin"},
		{"owner admin", with(auth.RoleOwner), auth.ScopeAdmin, "", ""},
		{"unknown role", with("intern"), auth.ScopeRead, apperr.Forbidden, "role intern lacks scope crm:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.Require(tt.ctx, tt.scope)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Require = %v, want nil", err)
				}
				return
			}
			if apperr.CodeOf(err) != tt.want || err.Error() != tt.msg {
				t.Fatalf("Require = %s %q, want %s %q", apperr.CodeOf(err), err, tt.want, tt.msg)
			}
		})
	}
}
