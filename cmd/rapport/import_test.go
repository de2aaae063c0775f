package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/ent/customerprofile"
	"github.com/rapportcrm/rapport/ent/organization"
	"github.com/rapportcrm/rapport/ent/schematype"
	"github.com/rapportcrm/rapport/ent/segmentmembership"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/database"
	"github.com/rapportcrm/rapport/internal/pubsub"
	"github.com/rapportcrm/rapport/internal/segment"
	"github.com/rapportcrm/rapport/internal/tenancy"
	"github.com/rapportcrm/rapport/internal/testenv"
)

func TestImportCommand(t *testing.T) {
	testenv.ForEach(t, func(t *testing.T, tg testenv.Target) {
		ctx := context.Background()
		getenv := env(map[string]string{"RAPPORT_DATABASE_URL": tg.DatabaseURL, "RAPPORT_JWT_SECRET": "anything-32-chars-long-0123456789"})
		dir := tg.DataDir
		file := filepath.Join(t.TempDir(), "mca-za.csv")
		csv := "Member No,Name,E-mail,Cell,HCP,Tags,Shoe size\n" +
			"1,Ann Smith,ann@club.golf,082 555 0101,+0.4,vip|za,9\n" +
			"2,Bob Jones,bob@club.golf,,x,,\n" +
			"3,Cat Lee,bad@,,,,\n" +
			"4,Dan Ray,ann@club.golf,,10,,\n"
		if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		err := run(ctx, []string{"import", "--data-dir", dir, "--tenant", "nowhere", file}, getenv, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), `no organization "nowhere"`) {
			t.Fatalf("unknown tenant: %v", err)
		}
		// A dynamic segment that exists before the import: the rows it
		// matches are members when the command returns.
		db, org, vips := vipSegment(t, tg, getenv, "pinehurst")
		tctx := audit.WithActor(tenancy.WithTenant(ctx, org), audit.Actor{ID: "staff-1", Type: "user"})
		// A dry run first: the same counts, nothing written.
		profilesBefore := db.Client.CustomerProfile.Query().CountX(tctx)
		err = run(ctx, []string{"import", "--data-dir", dir, "--tenant", "pinehurst", "--dry-run", "--id-column", "member no",
			"--map", "Name=displayName", file}, getenv, &out, &errb)
		if err != nil {
			t.Fatalf("dry run: %v\n%s", err, errb.String())
		}
		for _, want := range []string{"nothing was written", "would be created              1", "would be linked to existing   1", "would be rejected             2"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("dry-run output lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), "rescored") || db.Client.CustomerProfile.Query().CountX(tctx) != profilesBefore {
			t.Errorf("the dry run wrote or followed up:\n%s", out.String())
		}
		out.Reset()
		errb.Reset()
		err = run(ctx, []string{"import", "--data-dir", dir, "--tenant", "pinehurst", "--system", "MCA v1 ZA", "--id-column", "member no",
			"--external-id-kind", "mcaV1ZaId", "--map", "Name=displayName", file, "--workers", "2", "--occurred-at", "2024-06-30"}, getenv, &out, &errb)
		if err != nil {
			t.Fatalf("import: %v\n%s", err, errb.String())
		}
		summary := out.String()
		for _, want := range []string{"rows read            4", "created              1", "linked to existing   1", "rejected             2",
			"rescored and re-segmented 1 profiles in "} {
			if !strings.Contains(summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, summary)
			}
		}
		for _, want := range []string{`line 3: column HCP: "x" is not a handicap`, `line 4: column E-mail: "bad@" is not a valid e-mail address`} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, errb.String())
			}
		}

		ann := db.Client.CustomerProfile.Query().Where(customerprofile.Email("ann@club.golf")).OnlyX(tctx)
		if ann.ScoresComputedAt == nil || len(ann.ScoreComponents.Engagement) == 0 {
			t.Errorf("imported profile not scored: computed at %v", ann.ScoresComputedAt)
		}
		members := db.Client.SegmentMembership.Query().Where(segmentmembership.SegmentID(vips.ID)).AllX(tctx)
		if len(members) != 1 || members[0].CustomerID != ann.ID {
			t.Errorf("segment members after the import: %v, want Ann's profile", members)
		}
		if db.Client.Segment.GetX(tctx, vips.ID).MemberCount != 1 {
			t.Error("member count not updated")
		}

		// Again, with the rejects to a file: all duplicates but the row that
		// never reached the pipeline.
		out.Reset()
		errb.Reset()
		rejects := filepath.Join(t.TempDir(), "rejects.csv")
		err = run(ctx, []string{"import", "--data-dir", dir, "--tenant", "pinehurst", "--id-column", "member no", "--external-id-kind", "mcaV1ZaId",
			"--map", "Name=displayName", "--rejects", rejects, file}, getenv, &out, &errb)
		if err != nil {
			t.Fatalf("re-import: %v", err)
		}
		if !strings.Contains(out.String(), "duplicates           3") || !strings.Contains(out.String(), "created              0") {
			t.Errorf("re-import summary:\n%s", out.String())
		}
		b, err := os.ReadFile(rejects)
		if err != nil || !strings.Contains(string(b), `3,,rejected,HCP,"""x"" is not a handicap (a number)"`) {
			t.Errorf("rejects file: %v\n%s", err, b)
		}
		if strings.Contains(errb.String(), "line 3") {
			t.Errorf("rejects went to stderr despite --rejects:\n%s", errb.String())
		}

		if err := run(ctx, []string{"import", "--data-dir", dir, "--tenant", "pinehurst", filepath.Join(dir, "missing.csv")}, getenv, &out, &errb); err == nil {
			t.Error("a missing file was not an error")
		}
		if err := run(ctx, []string{"import", "--data-dir", dir, "--tenant", "pinehurst", "--map", "Name", file}, getenv, &out, &errb); err == nil {
			t.Error("a malformed --map was accepted")
		}
	})
}

// TestImportTellsLiveSubscribers: with Redis configured, the segment changes
// of the import's follow-up reach the service's live subscribers (through
// the replicas' Redis hub), not only the outbox.
func TestImportTellsLiveSubscribers(t *testing.T) {
	url, _ := testenv.Redis(t)
	if url == "" {
		t.Skip("RAPPORT_TEST_REDIS_URL not set")
	}
	tg := testenv.Targets(t)[0]
	ctx := context.Background()
	getenv := env(map[string]string{"RAPPORT_DATABASE_URL": tg.DatabaseURL, "RAPPORT_REDIS_URL": url,
		"RAPPORT_JWT_SECRET": "anything-32-chars-long-0123456789"})
	_, org, vips := vipSegment(t, tg, getenv, "live-links")

	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	sub := rdb.Subscribe(ctx, pubsub.DefaultRedisPrefix+segment.Topic(org, vips.ID))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "members.csv")
	if err := os.WriteFile(file, []byte("E-mail,Tags\nann@links.golf,vip\nbob@links.golf,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"import", "--data-dir", tg.DataDir, "--tenant", "live-links", file}, getenv, &out, &errb); err != nil {
		t.Fatalf("import: %v\n%s", err, errb.String())
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := sub.ReceiveMessage(rctx)
	if err != nil {
		t.Fatalf("no segment change published: %v", err)
	}
	var ch segment.LiveChange
	if err := json.Unmarshal([]byte(msg.Payload), &ch); err != nil {
		t.Fatal(err)
	}
	if ch.SegmentID != vips.ID || ch.AddedCount != 1 || ch.MemberCount != 1 {
		t.Fatalf("change %+v, want one member added to %s", ch, vips.ID)
	}
}

// vipSegment creates the organization slug through the token command and,
// in it, a dynamic segment of the profiles tagged vip (empty so far); it
// returns the open database, the organization and the segment.
func vipSegment(t *testing.T, tg testenv.Target, getenv func(string) string, slug string) (*database.DB, uuid.UUID, *ent.Segment) {
	t.Helper()
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"token", "--data-dir", tg.DataDir, "--tenant", slug, "--role", "admin"}, getenv, &out, &errb); err != nil {
		t.Fatalf("token: %v", err)
	}
	db, err := database.Open(ctx, tg.DatabaseURL, tg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	org := db.Client.Organization.Query().Where(organization.Slug(slug)).OnlyX(ctx)
	tctx := audit.WithActor(tenancy.WithTenant(ctx, org.ID), audit.Actor{ID: "staff-1", Type: "user"})
	vips, err := segment.NewService(db.Client, db.Dialect, nil).Create(tctx, segment.CreateInput{Name: "VIPs",
		Rules: []*schematype.Rule{{Field: "tags", Operator: schematype.OpContains, Value: "vip"}}})
	if err != nil || vips.MemberCount != 0 {
		t.Fatalf("segment: %v", err)
	}
	return db, org.ID, vips
}
