// Package apikey manages organizations' API keys for machine callers and
// authenticates requests that present one. Only a SHA-256 of each key is
// stored; the key itself is shown once, at creation.
package apikey

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/apikey"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// Service creates, lists, revokes and verifies API keys.
type Service struct {
	client *ent.Client
	now    func() time.Time
}

// NewService returns a Service over the client.
func NewService(client *ent.Client) *Service {
	return &Service{client: client, now: func() time.Time { return time.Now().UTC() }}
}

// The api_keys table is read by key prefix before any tenant is known, so it
// has no tenant interceptor; every method below scopes by organization
// explicitly.

// Create makes a key for the organization and returns it with the plain key,
// which is never stored or shown again.
func (s *Service) Create(ctx context.Context, orgID uuid.UUID, name, role string, expiresAt *time.Time, createdBy string) (*ent.ApiKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", apperr.InvalidField("input.name", "a name of 1 to 200 characters is required")
	}
	if role == "" {
		role = string(auth.RoleAdmin)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return nil, "", apperr.InvalidField("input.role", "unknown role %q", role)
	}
	if r == auth.RoleOwner {
		return nil, "", apperr.InvalidField("input.role", "an API key cannot be an owner")
	}
	if expiresAt != nil && !expiresAt.After(s.now()) {
		return nil, "", apperr.InvalidField("input.expiresAt", "must be in the future")
	}
	plain, prefix, hash, err := auth.GenerateAPIKey()
	if err != nil {
		return nil, "", err
	}
	k, err := s.client.ApiKey.Create().SetOrganizationID(orgID).SetName(name).SetPrefix(prefix).
		SetHash(hash).SetRole(string(r)).SetCreatedBy(createdBy).SetNillableExpiresAt(expiresAt).
		SetCreatedAt(s.now()).Save(tenancy.WithSystem(ctx))
	if err != nil {
		return nil, "", err
	}
	return k, plain, nil
}

// List returns the organization's keys, newest first.
func (s *Service) List(ctx context.Context, orgID uuid.UUID) ([]*ent.ApiKey, error) {
	return s.client.ApiKey.Query().Where(apikey.OrganizationID(orgID)).
		Order(ent.Desc(apikey.FieldCreatedAt)).Limit(1000).All(tenancy.WithSystem(ctx))
}

// Revoke stops a key from working. Revoking twice is harmless.
func (s *Service) Revoke(ctx context.Context, orgID, id uuid.UUID) (*ent.ApiKey, error) {
	sys := tenancy.WithSystem(ctx)
	k, err := s.client.ApiKey.Query().Where(apikey.ID(id), apikey.OrganizationID(orgID)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "API key %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return k, nil
	}
	return k.Update().SetRevokedAt(s.now()).Save(sys)
}

// Verify authenticates a presented key: it implements auth.Verifier for
// tokens that look like API keys.
func (s *Service) Verify(ctx context.Context, token string) (*auth.Principal, error) {
	prefix, ok := auth.ParseAPIKey(token)
	if !ok {
		return nil, apperr.New(apperr.Unauthenticated, "malformed API key")
	}
	sys := tenancy.WithSystem(ctx)
	k, err := s.client.ApiKey.Query().Where(apikey.Prefix(prefix)).Only(sys)
	if ent.IsNotFound(err) || (err == nil && !auth.APIKeyMatches(token, k.Hash)) {
		return nil, apperr.New(apperr.Unauthenticated, "invalid API key")
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if k.RevokedAt != nil {
		return nil, apperr.New(apperr.Unauthenticated, "API key revoked")
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(now) {
		return nil, apperr.New(apperr.Unauthenticated, "API key expired")
	}
	// Recording use once a minute is enough for "last used" and keeps a
	// busy integration from writing on every request.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		_ = s.client.ApiKey.UpdateOneID(k.ID).SetLastUsedAt(now).Exec(sys)
	}
	return &auth.Principal{UserID: "apikey:" + k.ID.String(), Tenant: k.OrganizationID.String(), Role: auth.Role(k.Role), Kind: auth.KindAPIKey}, nil
}

// LooksLikeKey reports whether a bearer token is an API key rather than a JWT.
func LooksLikeKey(token string) bool { return strings.HasPrefix(token, "rpk_") }
