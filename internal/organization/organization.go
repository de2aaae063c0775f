// Package organization creates tenants and resolves the tenant a token names.
package organization

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/organization"
	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// ValidSlug reports whether s can be an organization slug.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// Ensure returns the organization with the slug, creating it with the name
// (the slug when empty) if it does not exist. It is safe to call
// concurrently: the unique slug decides.
func Ensure(ctx context.Context, client *ent.Client, slug, name string) (*ent.Organization, error) {
	slug = strings.ToLower(strings.TrimSpace(slug))
	if !ValidSlug(slug) {
		return nil, apperr.InvalidField("slug", "%q must be 2–63 lower-case letters, digits or dashes", slug)
	}
	ctx = tenancy.WithSystem(ctx)
	if o, err := client.Organization.Query().Where(organization.Slug(slug)).Only(ctx); err == nil {
		return o, nil
	} else if !ent.IsNotFound(err) {
		return nil, err
	}
	if name == "" {
		name = slug
	}
	err := client.Organization.Create().SetSlug(slug).SetName(name).
		OnConflictColumns(organization.FieldSlug).DoNothing().Exec(ctx)
	if err != nil && !ent.IsNotFound(err) && !ent.IsConstraintError(err) {
		// DoNothing on an existing row reports "no rows" on some drivers.
		return nil, fmt.Errorf("create organization: %w", err)
	}
	return client.Organization.Query().Where(organization.Slug(slug)).Only(ctx)
}

// EnsureMember adds the user to the organization with the role unless the
// user is already a member.
func EnsureMember(ctx context.Context, client *ent.Client, orgID uuid.UUID, userID string, role organizationmember.Role) error {
	ctx = tenancy.WithTenant(ctx, orgID)
	exists, err := client.OrganizationMember.Query().Where(organizationmember.UserID(userID)).Exist(ctx)
	if err != nil || exists {
		return err
	}
	err = client.OrganizationMember.Create().SetUserID(userID).SetRole(role).Exec(ctx)
	if ent.IsConstraintError(err) {
		return nil
	}
	return err
}

// Resolver maps the tenant claim of a token (an organization id or slug) to
// the organization, caching answers briefly: it runs on every request.
type Resolver struct {
	client *ent.Client
	ttl    time.Duration
	mu     sync.Mutex
	cache  map[string]cached
}

type cached struct {
	org     *ent.Organization
	expires time.Time
}

// NewResolver returns a Resolver over the client.
func NewResolver(client *ent.Client) *Resolver {
	return &Resolver{client: client, ttl: 30 * time.Second, cache: map[string]cached{}}
}

// Lookup returns the organization the reference names, or UNAUTHENTICATED
// when there is none: a token for an unknown tenant is not a valid token.
func (r *Resolver) Lookup(ctx context.Context, ref string) (*ent.Organization, error) {
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cache[ref]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.org, nil
	}
	q := r.client.Organization.Query()
	if id, err := uuid.Parse(ref); err == nil {
		q.Where(organization.ID(id))
	} else {
		q.Where(organization.Slug(strings.ToLower(ref)))
	}
	o, err := q.Only(tenancy.WithSystem(ctx))
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.Unauthenticated, "the token's organization does not exist")
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) > 10000 {
		r.cache = map[string]cached{}
	}
	r.cache[ref] = cached{org: o, expires: now.Add(r.ttl)}
	r.mu.Unlock()
	return o, nil
}
