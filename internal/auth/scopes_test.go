package auth_test

import (
	"slices"
	"testing"

	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/auth"
)

func TestRoleMatrix(t *testing.T) {
	const (
		R = auth.ScopeRead
		W = auth.ScopeWrite
		C = auth.ScopeCampaigns
		S = auth.ScopeSocial
		A = auth.ScopeAdmin
	)
	want := map[auth.Role][]auth.Scope{
		auth.RoleOwner:       {R, W, C, S, A},
		auth.RoleAdmin:       {R, W, C, S, A},
		auth.RoleTenantAdmin: {R, W, C, S, A},
		auth.RoleMember:      {R, W, C, S},
		auth.RoleTenantUser:  {R, W},
		auth.RoleViewer:      {R},
	}
	if len(want) != len(auth.AllRoles()) {
		t.Fatalf("test covers %d roles, package has %d", len(want), len(auth.AllRoles()))
	}
	for _, role := range auth.AllRoles() {
		for _, scope := range auth.AllScopes() {
			t.Run(string(role)+"/"+string(scope), func(t *testing.T) {
				if got, exp := role.Can(scope), slices.Contains(want[role], scope); got != exp {
					t.Errorf("Can = %v, want %v", got, exp)
				}
			})
		}
		if got := auth.Scopes(role); !slices.Equal(got, want[role]) {
			t.Errorf("Scopes(%s) = %v, want %v", role, got, want[role])
		}
	}
	if got := auth.Scopes("intern"); len(got) != 0 {
		t.Errorf("unknown role has scopes %v", got)
	}
	if auth.Role("").Can(auth.ScopeRead) {
		t.Error("empty role can read")
	}
}

func TestScopesReturnsCopy(t *testing.T) {
	s := auth.Scopes(auth.RoleViewer)
	s[0] = auth.ScopeAdmin
	if auth.RoleViewer.Can(auth.ScopeAdmin) {
		t.Fatal("editing the returned slice changed the matrix")
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]auth.Role{
		"owner":        auth.RoleOwner,
		"ADMIN":        auth.RoleAdmin,
		" Member ":     auth.RoleMember,
		"viewer":       auth.RoleViewer,
		"TENANT_ADMIN": auth.RoleTenantAdmin,
		"tenant-admin": auth.RoleTenantAdmin,
		"Tenant_User":  auth.RoleTenantUser,
		"TENANT-USER":  auth.RoleTenantUser,
	} {
		got, err := auth.ParseRole(in)
		if err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "root", "tenant admin", "owner!"} {
		if _, err := auth.ParseRole(in); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("ParseRole(%q) error code = %s, want INVALID", in, apperr.CodeOf(err))
		}
	}
}
