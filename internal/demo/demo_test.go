package demo

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"modernc.org/sqlite"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/crmauditlog"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/identity"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

var now = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func TestPeopleDeterministic(t *testing.T) {
	a := People(300, 42, now)
	b := People(300, 42, now)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different people")
	}
	if c := People(300, 43, now); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same people")
	}
	// A larger set starts with the smaller one, so Ensure can grow a club.
	if long := People(500, 42, now); !reflect.DeepEqual(a, long[:300]) {
		t.Fatal("People(300) is not a prefix of People(500)")
	}
}

func TestPeopleKeys(t *testing.T) {
	people := People(1000, Seed, now)
	emails, phones := map[string]bool{}, map[string]bool{}
	ids := map[key]bool{}
	for _, p := range people {
		if emails[p.Email] {
			t.Errorf("duplicate e-mail %s", p.Email)
		}
		emails[p.Email] = true
		if phones[p.Phone] {
			t.Errorf("duplicate phone %s", p.Phone)
		}
		phones[p.Phone] = true

		e, err := identity.NormalizeEmail(p.Email)
		if err != nil || e != p.Email {
			t.Errorf("e-mail %q normalizes to %q, %v", p.Email, e, err)
		}
		ph, err := identity.NormalizePhone(p.Phone, "ZA")
		if err != nil || ph != p.Phone {
			t.Errorf("phone %q normalizes to %q, %v", p.Phone, ph, err)
		}
		if !strings.HasPrefix(p.Phone, "+27") || len(p.Phone) != 12 {
			t.Errorf("phone %q is not a 9-digit ZA number", p.Phone)
		}
		for _, k := range keys(p) {
			if ids[k] {
				t.Errorf("duplicate %s %q", k.kind, k.value)
			}
			ids[k] = true
		}
		if got := identity.SearchText(p.FirstName, p.LastName, p.DisplayName, p.Email, p.Phone); got == "" {
			t.Errorf("empty search text for %s", p.DisplayName)
		}
	}
}

func TestPeopleLookReal(t *testing.T) {
	if n := len(firstNames()); n < 150 {
		t.Errorf("%d first names, want ≥ 150", n)
	}
	if n := len(lastNames()); n < 150 {
		t.Errorf("%d surnames, want ≥ 150", n)
	}
	people := People(1000, Seed, now)
	firsts, lasts, tags, tiers, statuses := map[string]bool{}, map[string]bool{}, map[string]int{}, map[string]int{}, map[string]int{}
	var notes, handicaps, socialWithHandicap int
	for _, p := range people {
		firsts[p.FirstName], lasts[p.LastName] = true, true
		for _, tg := range p.Tags {
			tags[tg]++
		}
		if p.MembershipTier != nil {
			tiers[*p.MembershipTier]++
			statuses[*p.MembershipStatus]++
			if *p.MembershipTier == "Social" && p.Handicap != nil {
				socialWithHandicap++
			}
		}
		if len(p.Notes) > 0 {
			notes++
		}
		if h := p.Handicap; h != nil {
			handicaps++
			if *h < -2 || *h > 36 || *h*10 != float64(int(*h*10)) {
				t.Errorf("handicap %v out of range or precision", *h)
			}
		}
		for _, s := range []*int{p.EngagementScore, p.ChurnRiskScore} {
			if s != nil && (*s < 0 || *s > 100) {
				t.Errorf("score %d out of range", *s)
			}
		}
		if p.LastActivityAt != nil && p.LastActivityAt.After(now) {
			t.Errorf("last activity %v after now", p.LastActivityAt)
		}
		if strings.HasSuffix(p.Email, "@example.com") || strings.HasSuffix(p.Email, "@test.com") {
			t.Errorf("placeholder domain in %s", p.Email)
		}
	}
	if len(firsts) < 120 || len(lasts) < 120 {
		t.Errorf("only %d first names and %d surnames used in 1,000 people", len(firsts), len(lasts))
	}
	for _, tg := range []string{"vip", "board-member", "junior-golfer", "ladies-section", "seniors",
		"social-golfer", "competition-regular", "new-2026", "corporate", "lapsed-payer"} {
		if tags[tg] == 0 {
			t.Errorf("no one tagged %s", tg)
		}
	}
	if len(tiers) != 9 {
		t.Errorf("tiers %v, want all 9", tiers)
	}
	if statuses["ACTIVE"] < len(people)/2 {
		t.Errorf("membership statuses %v: want mostly ACTIVE", statuses)
	}
	if socialWithHandicap > 0 {
		t.Errorf("%d social members have a handicap", socialWithHandicap)
	}
	if notes < 120 || notes > 280 {
		t.Errorf("%d of 1,000 people have notes, want about 1 in 5", notes)
	}
}

var registerSQLite sync.Once

func openSQLite(t *testing.T, name string) *ent.Client {
	t.Helper()
	registerSQLite.Do(func() {
		for _, d := range sql.Drivers() {
			if d == "sqlite3" {
				return
			}
		}
		sql.Register("sqlite3", &sqlite.Driver{})
	})
	db, err := sql.Open("sqlite3", "file:"+name+"?mode=memory&cache=shared&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db)))
	t.Cleanup(func() { client.Close() })
	if err := client.Schema.Create(tenancy.WithSystem(context.Background())); err != nil {
		t.Fatal(err)
	}
	return client
}

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	client := openSQLite(t, "demo_test")
	// The app installs the audit hook; Ensure must work with it.
	client.Use(audit.Hook())
	org, err := client.Organization.Create().SetName("Demo").SetSlug("demo").Save(tenancy.WithSystem(ctx))
	if err != nil {
		t.Fatal(err)
	}

	created, err := Ensure(ctx, client, org.ID, 1000, now)
	if err != nil {
		t.Fatal(err)
	}
	if created != 1000 {
		t.Fatalf("first Ensure created %d, want 1000", created)
	}
	created, err = Ensure(ctx, client, org.ID, 1000, now)
	if err != nil {
		t.Fatal(err)
	}
	if created != 0 {
		t.Fatalf("second Ensure created %d, want 0", created)
	}

	tctx := tenancy.WithTenant(ctx, org.ID)
	if n := client.CustomerProfile.Query().CountX(tctx); n != 1000 {
		t.Errorf("%d profiles, want 1000", n)
	}
	want := 0
	wantNotes := 0
	for _, p := range People(1000, Seed, now) {
		want += len(keys(p))
		wantNotes += len(p.Notes)
	}
	if n := client.IdentityAlias.Query().CountX(tctx); n != want {
		t.Errorf("%d identity aliases, want %d", n, want)
	}
	if n := client.CustomerNote.Query().CountX(tctx); n != wantNotes {
		t.Errorf("%d notes, want %d", n, wantNotes)
	}

	if n := client.CrmAuditLog.Query().Where(crmauditlog.ActorID("demo")).CountX(tctx); n != 1000+want+wantNotes {
		t.Errorf("%d audit entries by the demo actor, want %d", n, 1000+want+wantNotes)
	}

	// Rows are stamped with the tenant and readable with their search text.
	p := client.CustomerProfile.Query().Where(customerprofile.SearchTextContains("@")).FirstX(tctx)
	if p.TenantID != org.ID {
		t.Errorf("tenant %s, want %s", p.TenantID, org.ID)
	}
	if p.SearchText != identity.SearchText(deref(p.FirstName), deref(p.LastName), deref(p.DisplayName), deref(p.Email), deref(p.PhoneNumber)) {
		t.Errorf("search text %q does not match the profile", p.SearchText)
	}

	// Growing the club adds only the new people.
	created, err = Ensure(ctx, client, org.ID, 1200, now)
	if err != nil {
		t.Fatal(err)
	}
	if created != 200 {
		t.Errorf("growing to 1,200 created %d, want 200", created)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
