package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rapportcrm/rapport/ent/organization"
	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/demo"
	orgs "github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

const (
	demoSlug     = "demo"
	demoUser     = "demo-admin"
	demoProfiles = 1000
)

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	addr := fs.String("addr", envOr(getenv, "RAPPORT_ADDR", "127.0.0.1:8080"), "listen address (env RAPPORT_ADDR)")
	dev := fs.Bool("dev", false, "development mode: generate a JWT secret in the data dir if none is configured")
	withDemo := fs.Bool("demo", false, "create the demo organization with sample data and print an admin token (implies --dev)")
	if err := parse(fs, args); err != nil {
		return err
	}
	secret, err := jwtSecret(getenv, c.dataDir, *dev || *withDemo)
	if err != nil {
		return err
	}
	if secret == nil && getenv("RAPPORT_JWKS_URL") == "" {
		return errors.New("refusing to start without a way to verify tokens: set RAPPORT_JWT_SECRET (32+ characters) or RAPPORT_JWKS_URL, or pass --dev for local use")
	}
	cfg := baseConfig(getenv, c, stderr)
	cfg.Addr = *addr
	cfg.JWTSecret = secret
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))

	var token string
	if *withDemo {
		if token, err = setupDemo(ctx, a, secret, stdout); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if err := a.Start(); err != nil {
		return err
	}
	base := "http://" + a.Addr()
	mode := "embedded SQLite in " + c.dataDir
	if cfg.DatabaseURL != "" {
		mode = "PostgreSQL"
	}
	fmt.Fprintf(stdout, "Rapport is listening on %s (%s)\n", base, mode)
	fmt.Fprintf(stdout, "  GraphQL endpoint:   %s/graphql\n", base)
	fmt.Fprintf(stdout, "  Playground:         %s/\n", base)
	if token != "" {
		fmt.Fprintf(stdout, "\nDemo organization %q is ready. Open the playground with an admin token already filled in:\n  %s/#token=%s\n", demoSlug, base, token)
		fmt.Fprintf(stdout, "\nAdmin token (Authorization: Bearer …), valid 7 days:\n%s\n\n", token)
		fmt.Fprintf(stdout, "Try:\n  curl -s %s/graphql -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n    -d '{\"query\":\"{ customers(first: 3) { totalCount edges { node { displayName email } } } }\"}'\n", base, shorten(token))
	}
	if err := a.Wait(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "shutting down")
	return nil
}

func shorten(t string) string {
	if len(t) < 20 {
		return t
	}
	return "<token>"
}

// setupDemo creates (idempotently) the demo organization, its admin and its
// golf club members, and returns an admin token.
func setupDemo(ctx context.Context, a *app.App, secret []byte, stdout io.Writer) (string, error) {
	client := a.DB.Client
	org, err := orgs.Ensure(ctx, client, demoSlug, "Fairway Hills Golf & Country Club")
	if err != nil {
		return "", err
	}
	org, err = client.Organization.UpdateOne(org).
		SetTimeZone("Africa/Johannesburg").SetDefaultPhoneRegion("ZA").SetPlanTier(organization.PlanTierPro).
		Save(tenancy.WithSystem(ctx))
	if err != nil {
		return "", err
	}
	if err := orgs.EnsureMember(ctx, client, org.ID, demoUser, organizationmember.RoleAdmin); err != nil {
		return "", err
	}
	start := time.Now()
	n, err := demo.Ensure(tenancy.WithTenant(ctx, org.ID), client, org.ID, demoProfiles, time.Now().UTC())
	if err != nil {
		return "", err
	}
	if n > 0 {
		fmt.Fprintf(stdout, "Created %d demo customer profiles in %s\n", n, time.Since(start).Round(time.Millisecond))
	}
	return auth.IssueHS256(secret, auth.Principal{UserID: demoUser, Tenant: org.ID.String(), Role: auth.RoleAdmin}, 7*24*time.Hour, time.Now())
}
