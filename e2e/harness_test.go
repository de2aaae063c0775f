package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/rapportcrm/rapport/ent/organizationmember"
	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/testenv"
)

var testSecret = []byte("e2e-test-secret-0123456789abcdef-0123456789")

// server is a running service under test.
type server struct {
	t       *testing.T
	app     *app.App
	url     string
	target  testenv.Target
	queries atomic.Int64
}

func start(t *testing.T, tg testenv.Target) *server {
	t.Helper()
	return startWith(t, tg, nil)
}

// startWith starts a server after letting configure adjust its config.
func startWith(t *testing.T, tg testenv.Target, configure func(*app.Config)) *server {
	t.Helper()
	s := &server{t: t, target: tg}
	ctx := context.Background()
	cfg := app.Config{
		Addr:        "127.0.0.1:0",
		DataDir:     tg.DataDir,
		DatabaseURL: tg.DatabaseURL,
		RedisURL:    tg.RedisURL,
		RedisPrefix: tg.RedisPrefix,
		JWTSecret:   testSecret,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		WrapDriver:  func(d dialect.Driver) dialect.Driver { return &countingDriver{Driver: d, n: &s.queries} },
	}
	if configure != nil {
		configure(&cfg)
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	s.app = a
	s.url = "http://" + a.Addr()
	return s
}

// token creates the organization (if needed) and returns a token for it.
func (s *server) token(slug string, role auth.Role) string {
	s.t.Helper()
	ctx := context.Background()
	org, err := organization.Ensure(ctx, s.app.DB.Client, slug, "")
	if err != nil {
		s.t.Fatalf("organization: %v", err)
	}
	user := "user-" + string(role) + "-" + slug
	if err := organization.EnsureMember(ctx, s.app.DB.Client, org.ID, user, organizationmember.RoleAdmin); err != nil {
		s.t.Fatalf("member: %v", err)
	}
	tok, err := auth.IssueHS256(testSecret, auth.Principal{UserID: user, Tenant: org.ID.String(), Role: role}, time.Hour, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// do posts a GraphQL operation over HTTP.
func (s *server) do(token, query string, vars map[string]any) gqlResponse {
	s.t.Helper()
	return s.post(token, map[string]any{"query": query, "variables": vars})
}

// doExt posts an operation with request extensions (persisted queries).
func (s *server) doExt(token, query string, ext map[string]any) gqlResponse {
	s.t.Helper()
	req := map[string]any{"extensions": ext}
	if query != "" {
		req["query"] = query
	}
	return s.post(token, req)
}

func (s *server) post(token string, payload map[string]any) gqlResponse {
	s.t.Helper()
	body, _ := json.Marshal(payload)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("decode response %q: %v", raw, err)
	}
	out.Status = resp.StatusCode
	return out
}

// ok runs an operation that must succeed and returns its data.
func (s *server) ok(token, query string, vars map[string]any) map[string]any {
	s.t.Helper()
	r := s.do(token, query, vars)
	if len(r.Errors) > 0 {
		s.t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	return r.Data
}

// get walks a decoded JSON value by keys and indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any, path ...any) string { return fmt.Sprint(get(v, path...)) }

// testWriter sends the service's warnings and errors to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// countingDriver counts the statements the service sends to the database.
type countingDriver struct {
	dialect.Driver
	n *atomic.Int64
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, query, args, v)
}
