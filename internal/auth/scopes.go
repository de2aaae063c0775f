package auth

import (
	"slices"
	"strings"

	"github.com/rapportcrm/rapport/internal/apperr"
)

// Scope is a permission a GraphQL field or mutation may demand.
type Scope string

// The scopes, from narrowest to widest.
const (
	ScopeRead      Scope = "crm:read"
	ScopeWrite     Scope = "crm:write"
	ScopeCampaigns Scope = "crm:campaigns"
	ScopeSocial    Scope = "crm:social"
	ScopeAdmin     Scope = "crm:admin"
)

// AllScopes returns every scope in a stable order.
func AllScopes() []Scope {
	return []Scope{ScopeRead, ScopeWrite, ScopeCampaigns, ScopeSocial, ScopeAdmin}
}

// Role is what a member is within an organization; it determines its scopes.
type Role string

// The roles. tenant_admin and tenant_user are the names the SaaS
// specification and external identity providers use; they map onto the same
// matrix as the CRM-suite roles.
const (
	RoleOwner       Role = "owner"
	RoleAdmin       Role = "admin"
	RoleMember      Role = "member"
	RoleViewer      Role = "viewer"
	RoleTenantAdmin Role = "tenant_admin"
	RoleTenantUser  Role = "tenant_user"
)

// AllRoles returns every role in a stable order.
func AllRoles() []Role {
	return []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer, RoleTenantAdmin, RoleTenantUser}
}

// matrix is the single place that says which role grants which scope; every
// authorization decision reads it, so changing a grant is a one-line diff.
// Lists are kept in AllScopes order so Scopes is stable.
var matrix = map[Role][]Scope{
	RoleOwner:       {ScopeRead, ScopeWrite, ScopeCampaigns, ScopeSocial, ScopeAdmin},
	RoleAdmin:       {ScopeRead, ScopeWrite, ScopeCampaigns, ScopeSocial, ScopeAdmin},
	RoleTenantAdmin: {ScopeRead, ScopeWrite, ScopeCampaigns, ScopeSocial, ScopeAdmin},
	RoleMember:      {ScopeRead, ScopeWrite, ScopeCampaigns, ScopeSocial},
	RoleTenantUser:  {ScopeRead, ScopeWrite},
	RoleViewer:      {ScopeRead},
}

// ParseRole reads a role name case-insensitively, accepting "-" for "_"
// (identity providers write "TENANT_ADMIN" or "tenant-admin").
func ParseRole(s string) (Role, error) {
	r := Role(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_"))
	if _, ok := matrix[r]; !ok {
		return "", apperr.New(apperr.Invalid, "unknown role %q", s)
	}
	return r, nil
}

// Scopes returns the scopes the role grants, in AllScopes order; none for an
// unknown role.
func Scopes(r Role) []Scope {
	// A copy, so callers cannot edit the matrix through the returned slice.
	return slices.Clone(matrix[r])
}

// Can reports whether the role grants the scope.
func (r Role) Can(s Scope) bool {
	return slices.Contains(matrix[r], s)
}
