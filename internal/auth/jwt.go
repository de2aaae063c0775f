package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rapportcrm/rapport/internal/apperr"
)

// MinSecretLen is the shortest HS256 secret accepted: RFC 7518 §3.2 asks for
// a key at least as long as the hash output (256 bits).
const MinSecretLen = 32

// Verifier turns a bearer token into a principal.
type Verifier interface {
	// Verify returns the token's principal or an UNAUTHENTICATED error.
	Verify(ctx context.Context, token string) (*Principal, error)
}

// The failures a client may see. They are short on purpose: a caller with a
// bad token learns what to fix, not how the server checks it.
var (
	errMalformed       = apperr.New(apperr.Unauthenticated, "invalid token: malformed")
	errAlgorithm       = apperr.New(apperr.Unauthenticated, "invalid token: algorithm")
	errSignature       = apperr.New(apperr.Unauthenticated, "invalid token: signature")
	errExpired         = apperr.New(apperr.Unauthenticated, "invalid token: expired")
	errNoExpiry        = apperr.New(apperr.Unauthenticated, "invalid token: no expiry")
	errNotYetValid     = apperr.New(apperr.Unauthenticated, "invalid token: not yet valid")
	errIssuer          = apperr.New(apperr.Unauthenticated, "invalid token: issuer")
	errAudience        = apperr.New(apperr.Unauthenticated, "invalid token: audience")
	errUnknownKey      = apperr.New(apperr.Unauthenticated, "invalid token: unknown key")
	errKeysUnavailable = apperr.New(apperr.Unauthenticated, "invalid token: signing keys unavailable")
	errInvalid         = apperr.New(apperr.Unauthenticated, "invalid token")
	errNoSubject       = apperr.New(apperr.Unauthenticated, "token has no subject")
	errNoTenant        = apperr.New(apperr.Unauthenticated, "token has no tenant")
	errNoRole          = apperr.New(apperr.Unauthenticated, "token has no role")
)

// Option configures a verifier.
type Option func(*options)

type options struct {
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
	log      *slog.Logger
}

func newOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithIssuer makes the verifier require this iss claim.
func WithIssuer(iss string) Option { return func(o *options) { o.issuer = iss } }

// WithAudience makes the verifier require this value among the aud claim.
func WithAudience(aud string) Option { return func(o *options) { o.audience = aud } }

// WithLeeway tolerates clock skew of d when checking exp, nbf and iat.
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithClock replaces time.Now, so expiry and JWKS caching are testable
// without sleeping.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger receives JWKS fetch failures, which clients only see as
// "signing keys unavailable"; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func (o options) parser(methods ...string) *jwt.Parser {
	popts := []jwt.ParserOption{
		// The allow-list is what makes algorithm confusion impossible: a
		// verifier never lets the token pick how it is checked.
		jwt.WithValidMethods(methods),
		// A token without exp would be valid forever.
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(o.leeway),
		jwt.WithTimeFunc(o.now),
	}
	if o.issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.issuer))
	}
	if o.audience != "" {
		popts = append(popts, jwt.WithAudience(o.audience))
	}
	return jwt.NewParser(popts...)
}

// verify parses and checks token with keyFunc, accepting only methods, and
// maps every failure onto one of the short UNAUTHENTICATED errors.
func (o options) verify(token string, keyFunc jwt.Keyfunc, methods ...string) (*Principal, error) {
	var keyErr error
	var c tokenClaims
	tok, err := o.parser(methods...).ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		k, err := keyFunc(t)
		keyErr = err
		return k, err
	})
	if err != nil {
		if tok != nil && !slices.Contains(methods, headerAlg(tok)) {
			return nil, errAlgorithm
		}
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, o.mapError(err, &c)
	}
	return c.principal()
}

func headerAlg(t *jwt.Token) string {
	alg, _ := t.Header["alg"].(string)
	return alg
}

// mapError turns the library's error into ours; c was decoded before the
// checks ran, which tells a missing claim from a wrong one.
func (o options) mapError(err error, c *tokenClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case c.ExpiresAt == nil:
			return errNoExpiry
		case o.issuer != "" && c.Issuer == "":
			return errIssuer
		case o.audience != "" && len(c.Audience) == 0:
			return errAudience
		}
	}
	return errInvalid
}

// tokenClaims is what Rapport reads from a token. Identity providers name the
// tenant and role differently, hence the fallbacks.
type tokenClaims struct {
	jwt.RegisteredClaims
	Tenant   claimString `json:"tenant,omitempty"`
	TenantID claimString `json:"tenant_id,omitempty"`
	TID      claimString `json:"tid,omitempty"`
	OrgID    claimString `json:"org_id,omitempty"`
	Role     claimList   `json:"role,omitempty"`
	Roles    claimList   `json:"roles,omitempty"`
}

func (c *tokenClaims) principal() (*Principal, error) {
	sub := strings.TrimSpace(c.Subject)
	if sub == "" {
		return nil, errNoSubject
	}
	var tenant string
	for _, t := range []claimString{c.Tenant, c.TenantID, c.TID, c.OrgID} {
		if tenant = strings.TrimSpace(string(t)); tenant != "" {
			break
		}
	}
	if tenant == "" {
		return nil, errNoTenant
	}
	role, err := c.role()
	if err != nil {
		return nil, err
	}
	return &Principal{UserID: sub, Tenant: tenant, Role: role, Kind: KindUser}, nil
}

// role takes the first role that parses, role before roles, so a provider
// that also lists roles Rapport does not know still works.
func (c *tokenClaims) role() (Role, error) {
	var first string
	for _, s := range slices.Concat(c.Role, c.Roles) {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if r, err := ParseRole(s); err == nil {
			return r, nil
		}
		if first == "" {
			first = s
		}
	}
	if first == "" {
		return "", errNoRole
	}
	if len(first) > 64 {
		first = first[:64]
	}
	return "", apperr.New(apperr.Unauthenticated, "unknown role %q", first)
}

// claimString accepts a string or a number, since some providers send
// numeric organization ids.
type claimString string

func (s *claimString) UnmarshalJSON(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*s = ""
	case string:
		*s = claimString(v)
	case json.Number:
		*s = claimString(v.String())
	default:
		return fmt.Errorf("claim must be a string, got %s", b)
	}
	return nil
}

// claimList accepts a string or an array; non-string entries are ignored so
// that one odd entry does not make a provider's token unreadable.
type claimList []string

func (l *claimList) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*l = nil
	case string:
		*l = claimList{v}
	case []any:
		out := make(claimList, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		*l = out
	default:
		return fmt.Errorf("claim must be a string or an array, got %s", b)
	}
	return nil
}

// HS256Verifier verifies tokens signed with a shared secret, such as those
// from IssueHS256.
type HS256Verifier struct {
	secret []byte
	opts   options
}

// NewHS256Verifier returns a verifier for HS256 tokens signed with secret.
// A secret shorter than MinSecretLen fails closed: every token is rejected.
func NewHS256Verifier(secret []byte, opts ...Option) *HS256Verifier {
	return &HS256Verifier{secret: slices.Clone(secret), opts: newOptions(opts)}
}

// Verify implements Verifier.
func (v *HS256Verifier) Verify(_ context.Context, token string) (*Principal, error) {
	return v.opts.verify(token, func(*jwt.Token) (any, error) {
		if len(v.secret) < MinSecretLen {
			// An empty or short key would let anyone forge tokens.
			return nil, errSignature
		}
		return v.secret, nil
	}, jwt.SigningMethodHS256.Alg())
}

// IssueHS256 signs a token for p valid for ttl from now; it serves the
// `rapport token` command, demo mode and tests.
func IssueHS256(secret []byte, p Principal, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("auth: HS256 secret must be at least %d bytes", MinSecretLen)
	}
	if p.UserID == "" || p.Tenant == "" {
		return "", apperr.New(apperr.Invalid, "a token needs a user and a tenant")
	}
	if _, ok := matrix[p.Role]; !ok {
		return "", apperr.New(apperr.Invalid, "unknown role %q", p.Role)
	}
	if ttl <= 0 {
		return "", apperr.New(apperr.Invalid, "token lifetime must be positive")
	}
	claims := jwt.MapClaims{
		"sub":    p.UserID,
		"tenant": p.Tenant,
		"role":   string(p.Role),
		"iat":    now.Unix(),
		"exp":    now.Add(ttl).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// MultiVerifier accepts a token any of its verifiers accepts, so a deployment
// can take both locally issued and identity-provider tokens.
type MultiVerifier struct {
	vs []Verifier
}

// NewMultiVerifier tries vs in order (put HS256 first: it is local and
// cheap); nil entries are skipped.
func NewMultiVerifier(vs ...Verifier) *MultiVerifier {
	m := &MultiVerifier{}
	for _, v := range vs {
		if v != nil {
			m.vs = append(m.vs, v)
		}
	}
	return m
}

// Verify implements Verifier. On failure it reports the error of the first
// verifier that accepts the token's algorithm, since that one's complaint
// ("expired", "signature") is the useful one.
func (m *MultiVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	var failed error
	for _, v := range m.vs {
		p, err := v.Verify(ctx, token)
		if err == nil {
			return p, nil
		}
		if failed == nil || errors.Is(failed, errAlgorithm) {
			failed = err
		}
	}
	if failed == nil {
		failed = errInvalid
	}
	return nil, failed
}
