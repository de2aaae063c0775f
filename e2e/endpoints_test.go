package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/testenv"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServiceEndpoints(t *testing.T) {
	tg := testenv.Targets(t)[0]
	if url := os.Getenv("RAPPORT_TEST_REDIS_URL"); url != "" || testenv.Required() {
		if url == "" {
			t.Fatal("RAPPORT_TEST_REDIS_URL is required (RAPPORT_TEST_REQUIRE_SERVICES=1)")
		}
		tg.RedisURL = url
	}
	s := start(t, tg)
	admin := s.token("club-e", auth.RoleAdmin)

	for path, want := range map[string]string{
		"/healthz":        `"ok"`,
		"/readyz":         `"ready"`,
		"/schema.graphql": "customers(",
		"/":               "GraphiQL",
	} {
		if code, body := httpGet(t, s.url+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, body lacks %q", path, code, want)
		}
	}
	s.ok(admin, `{ customers { totalCount } }`, nil)
	if code, body := httpGet(t, s.url+"/metrics"); code != 200 || !strings.Contains(body, "rapport_graphql_operations_total") {
		t.Errorf("metrics: %d", code)
	}

	// Automatic persisted queries: the hash alone is refused until the
	// query has been sent once with it.
	query := `{ viewer { userID } }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	r := s.doExt(admin, "", ext)
	if r.code() != "PERSISTED_QUERY_NOT_FOUND" || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown persisted query: %+v", r.Errors)
	}
	if r := s.doExt(admin, query, ext); len(r.Errors) > 0 {
		t.Fatalf("register persisted query: %+v", r.Errors)
	}
	if r := s.doExt(admin, "", ext); len(r.Errors) > 0 || str(r.Data, "viewer", "userID") != "user-admin-club-e" {
		t.Fatalf("persisted query by hash: %+v %v", r.Errors, r.Data)
	}

	// Depth and complexity limits refuse abusive operations before they run.
	deep := `{ customers(first: 1) { edges { node { notes(first: 1) { edges { node { customer { notes(first: 1) { edges { node { customer { notes(first: 1) { edges { node { id } } } } } } } } } } } } } } }`
	if r := s.do(admin, deep, nil); r.code() != "INVALID" || !strings.Contains(r.Errors[0].Message, "levels deep") {
		t.Fatalf("deep query: %+v", r.Errors)
	}
	wide := `{ customers(first: 500) { edges { node { notes(first: 500) { edges { node { body } } } } } } }`
	if r := s.do(admin, wide, nil); r.code() != "INVALID" {
		t.Fatalf("expensive query: %+v", r.Errors)
	}
}
