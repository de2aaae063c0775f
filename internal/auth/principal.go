package auth

import (
	"context"

	"github.com/rapportcrm/rapport/internal/apperr"
)

// The kinds of principal.
const (
	KindUser   = "user"
	KindAPIKey = "api_key"
)

// Principal is the authenticated caller of one request.
type Principal struct {
	// UserID is the token subject or the API key's id.
	UserID string
	// Tenant is the raw tenant claim: an organization UUID or slug. It is
	// resolved to an organization by the caller, not here.
	Tenant string
	// Role decides the scopes.
	Role Role
	// Kind is KindUser or KindAPIKey.
	Kind string
}

type principalKey struct{}

// WithPrincipal returns a context carrying the principal.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal carried by ctx, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// Require returns nil when ctx carries a principal whose role grants the
// scope, UNAUTHENTICATED when there is no principal and FORBIDDEN otherwise.
func Require(ctx context.Context, s Scope) error {
	p, ok := FromContext(ctx)
	if !ok {
		return apperr.New(apperr.Unauthenticated, "authentication required")
	}
	if !p.Role.Can(s) {
		return apperr.New(apperr.Forbidden, "role %s lacks scope %s", p.Role, s)
	}
	return nil
}
