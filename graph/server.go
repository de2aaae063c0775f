package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/graph/model"
	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/audit"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/organization"
	"github.com/rapportcrm/rapport/internal/tenancy"
)

// ServerConfig is what the HTTP server is built from.
type ServerConfig struct {
	Resolvers ResolverRoot
	Verifier  auth.Verifier
	Orgs      *organization.Resolver
	Logger    *slog.Logger
	// Ready reports whether the service can serve (the database answers).
	Ready func(ctx context.Context) error
	// Metrics is the Prometheus handler mounted at /metrics; nil disables it.
	Metrics *Metrics
	// AllowedOrigins are the browser origins (host patterns) allowed to open
	// websockets besides the service's own.
	AllowedOrigins []string
	// ComplexityLimit caps an operation's cost; DepthLimit its nesting.
	ComplexityLimit int
	DepthLimit      int
	// APIKeys verifies bearer tokens that are API keys (rpk_…); nil accepts
	// JWTs only.
	APIKeys auth.Verifier
	// Events, when set, serves POST /events.
	Events EventIntake
}

// NewServer assembles the HTTP handler: /graphql (POST, GET, websockets),
// the playground at /, the SDL at /schema.graphql, and the health, readiness
// and metrics endpoints.
func NewServer(cfg ServerConfig) http.Handler {
	if cfg.ComplexityLimit == 0 {
		cfg.ComplexityLimit = 2000
	}
	if cfg.DepthLimit == 0 {
		cfg.DepthLimit = 12
	}
	schema := NewExecutableSchema(Config{
		Resolvers:  cfg.Resolvers,
		Directives: DirectiveRoot{Scope: requireScope},
		Complexity: complexity(),
	})
	srv := handler.New(schema)
	srv.AddTransport(transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{
			OriginPatterns: cfg.AllowedOrigins,
		}},
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			token := bearer(p.Authorization())
			if token == "" {
				if t, ok := p["token"].(string); ok {
					token = t
				}
			}
			if token == "" {
				return ctx, nil, apperr.New(apperr.Unauthenticated, "connection_init must carry an Authorization bearer token")
			}
			actx, err := authenticate(ctx, cfg, token)
			return actx, nil, err
		},
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		PingPongInterval:      15 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	srv.Use(depthLimit{max: cfg.DepthLimit})
	if cfg.Metrics != nil {
		srv.Use(cfg.Metrics)
	}
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Logger.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()), "request_id", RequestID(ctx))
		return gqlerror.Errorf("internal error")
	})

	sdl := printSDL(schema.Schema())
	mux := http.NewServeMux()
	mux.Handle("/graphql", authMiddleware(cfg, srv))
	if cfg.Events != nil {
		mux.Handle("POST /events", authMiddleware(cfg, eventsHandler(cfg.Events)))
	}
	mux.HandleFunc("GET /{$}", servePlayground)
	mux.HandleFunc("GET /schema.graphql", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(sdl))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if cfg.Ready != nil {
			if err := cfg.Ready(ctx); err != nil {
				cfg.Logger.WarnContext(ctx, "not ready", "err", err)
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	var h http.Handler = mux
	if cfg.Metrics != nil {
		h = cfg.Metrics.Wrap(h)
	}
	return requestContext(cfg.Logger, h)
}

func printSDL(s *ast.Schema) string {
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithComments()).FormatSchema(s)
	return b.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate turns a token into a request context: the principal, its
// organization as the tenant, and the audit actor. The tenant comes from the
// token only.
func authenticate(ctx context.Context, cfg ServerConfig, token string) (context.Context, error) {
	verifier := cfg.Verifier
	if cfg.APIKeys != nil && strings.HasPrefix(token, "rpk_") {
		verifier = cfg.APIKeys
	}
	p, err := verifier.Verify(ctx, token)
	if err != nil {
		return ctx, err
	}
	org, err := cfg.Orgs.Lookup(ctx, p.Tenant)
	if err != nil {
		return ctx, err
	}
	ctx = auth.WithPrincipal(ctx, p)
	ctx = tenancy.WithTenant(ctx, org.ID)
	ctx = withOrganization(ctx, org)
	kind := p.Kind
	if kind == "" {
		kind = "user"
	}
	ctx = audit.WithActor(ctx, audit.Actor{ID: p.UserID, Type: kind})
	return ctx, nil
}

// authMiddleware authenticates HTTP requests that carry a token. A request
// without one proceeds anonymously (introspection works; every root field
// then answers UNAUTHENTICATED); a bad token is refused outright.
func authMiddleware(cfg ServerConfig, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" || websocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		token := bearer(h)
		if token == "" {
			writeGraphQLError(w, http.StatusUnauthorized, apperr.New(apperr.Unauthenticated, "the Authorization header must be \"Bearer <token>\""))
			return
		}
		ctx, err := authenticate(r.Context(), cfg, token)
		if err != nil {
			if apperr.CodeOf(err) == apperr.Internal {
				cfg.Logger.ErrorContext(r.Context(), "authenticate", "err", err)
				writeGraphQLError(w, http.StatusInternalServerError, apperr.New(apperr.Internal, "internal error"))
				return
			}
			writeGraphQLError(w, http.StatusUnauthorized, err)
			return
		}
		setLogAttrs(ctx, slog.String("tenant", tenantString(ctx)), slog.String("user", principalUser(ctx)))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func websocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func writeGraphQLError(w http.ResponseWriter, status int, err error) {
	code := apperr.CodeOf(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rapport"`)
	}
	writeJSON(w, status, map[string]any{
		"errors": []map[string]any{{"message": err.Error(), "extensions": map[string]any{"code": string(code)}}},
	})
}

// requireScope implements @scope: the caller must be authenticated and its
// role must grant the scope.
func requireScope(ctx context.Context, _ any, next graphql.Resolver, requires model.Scope) (any, error) {
	if err := auth.Require(ctx, scopeOf(requires)); err != nil {
		return nil, err
	}
	return next(ctx)
}

// scopeOf maps the GraphQL Scope enum to the permission matrix's scope.
func scopeOf(s model.Scope) auth.Scope {
	switch s {
	case model.ScopeCrmRead:
		return auth.ScopeRead
	case model.ScopeCrmWrite:
		return auth.ScopeWrite
	case model.ScopeCrmCampaigns:
		return auth.ScopeCampaigns
	case model.ScopeCrmSocial:
		return auth.ScopeSocial
	default:
		return auth.ScopeAdmin
	}
}

type orgKey struct{}

func withOrganization(ctx context.Context, o *ent.Organization) context.Context {
	return context.WithValue(ctx, orgKey{}, o)
}

// OrganizationFrom returns the authenticated caller's organization.
func OrganizationFrom(ctx context.Context) (*ent.Organization, bool) {
	o, ok := ctx.Value(orgKey{}).(*ent.Organization)
	return o, ok
}

func tenantString(ctx context.Context) string {
	if id, ok := tenancy.FromContext(ctx); ok {
		return id.String()
	}
	return ""
}

func principalUser(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.UserID
	}
	return ""
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
