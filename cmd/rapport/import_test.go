package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		if err := run(ctx, []string{"token", "--data-dir", dir, "--tenant", "pinehurst", "--role", "admin"}, getenv, &out, &errb); err != nil {
			t.Fatalf("token: %v", err)
		}
		err = run(ctx, []string{"import", "--data-dir", dir, "--tenant", "pinehurst", "--system", "MCA v1 ZA", "--id-column", "member no",
			"--external-id-kind", "mcaV1ZaId", "--map", "Name=displayName", file, "--workers", "2", "--occurred-at", "2024-06-30"}, getenv, &out, &errb)
		if err != nil {
			t.Fatalf("import: %v\n%s", err, errb.String())
		}
		summary := out.String()
		for _, want := range []string{"rows read            4", "created              1", "linked to existing   1", "rejected             2"} {
			if !strings.Contains(summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, summary)
			}
		}
		for _, want := range []string{`line 3: column HCP: "x" is not a handicap`, `line 4: column E-mail: "bad@" is not a valid e-mail address`} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, errb.String())
			}
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
