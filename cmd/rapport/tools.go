package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/database"
	orgs "github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/seed"
)

func openDB(ctx context.Context, getenv func(string) string, c common) (*database.DB, error) {
	db, err := database.Open(ctx, getenv("RAPPORT_DATABASE_URL"), c.dataDir)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return db, nil
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := database.Open(ctx, getenv("RAPPORT_DATABASE_URL"), c.dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	}
	for _, v := range applied {
		fmt.Fprintln(stdout, "applied", v)
	}
	return nil
}

// memberRoles maps token roles to organization membership roles.
var memberRoles = map[auth.Role]organizationmember.Role{
	auth.RoleOwner: organizationmember.RoleOwner, auth.RoleAdmin: organizationmember.RoleAdmin,
	auth.RoleMember: organizationmember.RoleMember, auth.RoleViewer: organizationmember.RoleViewer,
	auth.RoleTenantAdmin: organizationmember.RoleAdmin, auth.RoleTenantUser: organizationmember.RoleMember,
}

func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	tenant := fs.String("tenant", "", "organization slug (created if it does not exist)")
	roleName := fs.String("role", "", "owner, admin, member, viewer, tenant_admin or tenant_user")
	user := fs.String("user", "", "user id (default: local-<role>)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" || *roleName == "" {
		return errors.New("token: --tenant and --role are required")
	}
	role, err := auth.ParseRole(*roleName)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if *user == "" {
		*user = "local-" + string(role)
	}
	secret, err := jwtSecret(getenv, c.dataDir, true)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, getenv, c)
	if err != nil {
		return err
	}
	defer db.Close()
	org, err := orgs.Ensure(ctx, db.Client, *tenant, "")
	if err != nil {
		return err
	}
	if err := orgs.EnsureMember(ctx, db.Client, org.ID, *user, memberRoles[role]); err != nil {
		return err
	}
	tok, err := auth.IssueHS256(secret, auth.Principal{UserID: *user, Tenant: org.ID.String(), Role: role}, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func cmdSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	tenant := fs.String("tenant", "", "organization slug (created if it does not exist)")
	n := fs.Int("profiles", 0, "number of synthetic profiles to add")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" || *n <= 0 {
		return errors.New("seed: --tenant and a positive --profiles are required")
	}
	db, err := openDB(ctx, getenv, c)
	if err != nil {
		return err
	}
	defer db.Close()
	org, err := orgs.Ensure(ctx, db.Client, *tenant, "")
	if err != nil {
		return err
	}
	st, err := seed.Profiles(ctx, db.SQL, db.Dialect, org.ID, *n, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d profiles and %d identity keys into %q in %s (%.0f profiles/s)\n",
		st.Profiles, st.Aliases, *tenant, st.Elapsed.Round(time.Millisecond), float64(st.Profiles)/st.Elapsed.Seconds())
	return nil
}
