package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rapportcrm/rapport/internal/auth"
)

var b64 = base64.RawURLEncoding.EncodeToString

func rsaJWK(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]any {
	b, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
}

// idp is an identity provider serving a JWKS it can change, counting fetches.
type idp struct {
	*httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	keys    []map[string]any
	status  int
}

func newIDP(t *testing.T, keys ...map[string]any) *idp {
	p := &idp{keys: keys, status: http.StatusOK}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.status != http.StatusOK {
			w.WriteHeader(p.status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": p.keys})
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) set(status int, keys ...map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.keys = status, keys
}

// clock is a settable time source for the verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func sign(t *testing.T, m jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userClaims(exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": "idp|42", "org_id": "acme", "roles": []string{"tenant_user"}, "exp": exp.Unix()}
}

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func testKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey, *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaKey2, ecKey
}

func TestJWKSVerifiesRS256AndES256(t *testing.T) {
	rk, _, ek := testKeys(t)
	p := newIDP(t, rsaJWK("rsa-1", &rk.PublicKey), ecJWK("ec-1", &ek.PublicKey))
	v := auth.NewJWKSVerifier(p.URL, p.Client())
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)

	for name, tok := range map[string]string{
		"RS256": sign(t, jwt.SigningMethodRS256, "rsa-1", rk, userClaims(exp)),
		"ES256": sign(t, jwt.SigningMethodES256, "ec-1", ek, userClaims(exp)),
	} {
		got, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := auth.Principal{UserID: "idp|42", Tenant: "acme", Role: auth.RoleTenantUser, Kind: auth.KindUser}
		if *got != want {
			t.Fatalf("%s: principal = %+v", name, *got)
		}
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("fetched %d times, want 1 (keys are cached)", n)
	}

	got, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, "rsa-1", rk, userClaims(time.Now().Add(-time.Minute))))
	wantErr(t, got, err, "invalid token: expired")

	// A kid naming the EC key on an RS256 token: the key type decides.
	got, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, "ec-1", rk, userClaims(exp)))
	wantErr(t, got, err, "invalid token: signature")

	// Signed by a key the provider never published, under a published kid.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	got, err = v.Verify(ctx, sign(t, jwt.SigningMethodES256, "ec-1", other, userClaims(exp)))
	wantErr(t, got, err, "invalid token: signature")

	// No kid: any published key of the right type may match.
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodES256, "", ek, userClaims(exp))); err != nil {
		t.Fatalf("token without kid: %v", err)
	}
}

func TestJWKSRejectsAlgorithmConfusion(t *testing.T) {
	rk, _, _ := testKeys(t)
	p := newIDP(t, rsaJWK("rsa-1", &rk.PublicKey))
	v := auth.NewJWKSVerifier(p.URL, p.Client())
	ctx := context.Background()
	claims := userClaims(time.Now().Add(time.Hour))
	claims["roles"] = []string{"owner"}

	der, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// Every form of the public key an attacker might guess the server
	// feeds to HMAC.
	for name, hmacKey := range map[string][]byte{
		"pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"der": der,
		"n":   rk.N.Bytes(),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, "rsa-1", hmacKey, claims))
			wantErr(t, got, err, "invalid token: algorithm")
		})
	}
	got, err := v.Verify(ctx, sign(t, jwt.SigningMethodNone, "rsa-1", jwt.UnsafeAllowNoneSignatureType, claims))
	wantErr(t, got, err, "invalid token: algorithm")
	// RS512 with the right key is still not an algorithm we accept.
	got, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS512, "rsa-1", rk, claims))
	wantErr(t, got, err, "invalid token: algorithm")
	if n := p.fetches.Load(); n != 0 {
		t.Fatalf("rejected tokens caused %d fetches, want 0", n)
	}

	// And the other way: the HS256 verifier refuses RS256 tokens.
	got, err = auth.NewHS256Verifier(secret).Verify(ctx, sign(t, jwt.SigningMethodRS256, "rsa-1", rk, claims))
	wantErr(t, got, err, "invalid token: algorithm")
}

func TestJWKSRefetch(t *testing.T) {
	rk, rk2, _ := testKeys(t)
	p := newIDP(t, rsaJWK("k1", &rk.PublicKey))
	clk := &clock{now: time.Now()}
	v := auth.NewJWKSVerifier(p.URL, p.Client(), auth.WithClock(clk.Now))
	ctx := context.Background()
	exp := time.Now().Add(24 * time.Hour)
	k1 := sign(t, jwt.SigningMethodRS256, "k1", rk, userClaims(exp))
	k2 := sign(t, jwt.SigningMethodRS256, "k2", rk2, userClaims(exp))
	fetches := func(want int32) {
		t.Helper()
		if n := p.fetches.Load(); n != want {
			t.Fatalf("fetches = %d, want %d", n, want)
		}
	}

	if _, err := v.Verify(ctx, k1); err != nil {
		t.Fatal(err)
	}
	fetches(1)

	// The provider rotates in k2; a token with the new kid causes one
	// refetch once the 30 s since the last fetch have passed.
	p.set(http.StatusOK, rsaJWK("k1", &rk.PublicKey), rsaJWK("k2", &rk2.PublicKey))
	clk.Add(31 * time.Second)
	if _, err := v.Verify(ctx, k2); err != nil {
		t.Fatal(err)
	}
	fetches(2)

	// Unknown kids within 30 s of that fetch do not reach the provider.
	for _, kid := range []string{"k3", "k4", "k3"} {
		got, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, kid, rk, userClaims(exp)))
		wantErr(t, got, err, "invalid token: unknown key")
	}
	fetches(2)
	clk.Add(29 * time.Second)
	got, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, "k3", rk, userClaims(exp)))
	wantErr(t, got, err, "invalid token: unknown key")
	fetches(2)

	// After 30 s an unknown kid may refetch again, once.
	clk.Add(2 * time.Second)
	for range 3 {
		got, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, "k3", rk, userClaims(exp)))
		wantErr(t, got, err, "invalid token: unknown key")
	}
	fetches(3)

	// Known kids are served from the cache until it is an hour old.
	for range 5 {
		if _, err := v.Verify(ctx, k1); err != nil {
			t.Fatal(err)
		}
	}
	fetches(3)

	// An hour on, the next use refreshes: k1 has been removed (revoked).
	p.set(http.StatusOK, rsaJWK("k2", &rk2.PublicKey))
	clk.Add(time.Hour)
	got, err = v.Verify(ctx, k1)
	wantErr(t, got, err, "invalid token: unknown key")
	fetches(4)
	if _, err := v.Verify(ctx, k2); err != nil {
		t.Fatal(err)
	}
	fetches(4)
}

func TestJWKSProviderDown(t *testing.T) {
	rk, _, _ := testKeys(t)
	p := newIDP(t)
	p.set(http.StatusInternalServerError)
	clk := &clock{now: time.Now()}
	var logs bytes.Buffer
	v := auth.NewJWKSVerifier(p.URL, p.Client(), auth.WithClock(clk.Now), auth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	tok := sign(t, jwt.SigningMethodRS256, "k1", rk, userClaims(time.Now().Add(24*time.Hour)))

	for range 3 {
		got, err := v.Verify(ctx, tok)
		wantErr(t, got, err, "invalid token: signing keys unavailable")
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("a down provider was asked %d times in 30 s, want 1", n)
	}
	if !strings.Contains(logs.String(), "jwks fetch failed") || !strings.Contains(logs.String(), "500") {
		t.Fatalf("fetch failure not logged: %q", logs.String())
	}

	// It recovers; after the back-off the keys load.
	p.set(http.StatusOK, rsaJWK("k1", &rk.PublicKey))
	clk.Add(31 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// Down again at the hourly refresh: the cached keys keep working.
	p.set(http.StatusBadGateway)
	clk.Add(time.Hour)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("stale keys not used while the provider is down: %v", err)
	}
	if n := p.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	rk, _, ek := testKeys(t)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p := newIDP(t,
		map[string]any{"kty": "oct", "kid": "sym", "k": b64([]byte("secret"))},
		map[string]any{"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
		map[string]any{"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))},
		map[string]any{"kty": "RSA", "kid": "bad", "n": "!!", "e": "AQAB"},
		rsaJWK("weak", &weak.PublicKey),
		func() map[string]any { k := rsaJWK("enc", &rk.PublicKey); k["use"] = "enc"; return k }(),
		ecJWK("ec-1", &ek.PublicKey),
	)
	v := auth.NewJWKSVerifier(p.URL, p.Client())
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodES256, "ec-1", ek, userClaims(exp))); err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, "weak", weak, userClaims(exp)))
	wantErr(t, got, err, "invalid token: unknown key")
	got, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, "enc", rk, userClaims(exp)))
	wantErr(t, got, err, "invalid token: unknown key")
}

func TestMultiVerifier(t *testing.T) {
	rk, _, _ := testKeys(t)
	p := newIDP(t, rsaJWK("rsa-1", &rk.PublicKey))
	m := auth.NewMultiVerifier(auth.NewHS256Verifier(secret), nil, auth.NewJWKSVerifier(p.URL, p.Client()))
	ctx := context.Background()

	local, _ := auth.IssueHS256(secret, auth.Principal{UserID: "u1", Tenant: "acme", Role: auth.RoleOwner}, time.Hour, time.Now())
	got, err := m.Verify(ctx, local)
	if err != nil || got.UserID != "u1" || got.Role != auth.RoleOwner {
		t.Fatalf("local token: %+v, %v", got, err)
	}
	if n := p.fetches.Load(); n != 0 {
		t.Fatalf("a local token made %d JWKS fetches", n)
	}
	got, err = m.Verify(ctx, sign(t, jwt.SigningMethodRS256, "rsa-1", rk, userClaims(time.Now().Add(time.Hour))))
	if err != nil || got.UserID != "idp|42" {
		t.Fatalf("provider token: %+v, %v", got, err)
	}

	// Failures report what the verifier owning the algorithm found.
	got, err = m.Verify(ctx, sign(t, jwt.SigningMethodRS256, "rsa-1", rk, userClaims(time.Now().Add(-time.Hour))))
	wantErr(t, got, err, "invalid token: expired")
	forged, _ := auth.IssueHS256([]byte("not the server's secret, but long enough"), auth.Principal{UserID: "u1", Tenant: "acme", Role: auth.RoleOwner}, time.Hour, time.Now())
	got, err = m.Verify(ctx, forged)
	wantErr(t, got, err, "invalid token: signature")
	got, err = m.Verify(ctx, sign(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, userClaims(time.Now().Add(time.Hour))))
	wantErr(t, got, err, "invalid token: algorithm")
	got, err = m.Verify(ctx, "not a token")
	wantErr(t, got, err, "invalid token: malformed")
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}

	got, err = auth.NewMultiVerifier().Verify(ctx, local)
	wantErr(t, got, err, "invalid token")
}

func TestJWKSConcurrentMissesFetchOnce(t *testing.T) {
	rk, _, _ := testKeys(t)
	p := newIDP(t, rsaJWK("k1", &rk.PublicKey))
	v := auth.NewJWKSVerifier(p.URL, p.Client())
	tok := sign(t, jwt.SigningMethodRS256, "k1", rk, userClaims(time.Now().Add(time.Hour)))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("32 concurrent first uses made %d fetches, want 1", n)
	}
}
