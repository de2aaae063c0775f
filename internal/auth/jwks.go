package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// jwksRefresh bounds how long a removed (revoked) provider key keeps
	// verifying tokens.
	jwksRefresh = time.Hour
	// jwksMinRefetch bounds fetches: tokens with made-up kids, or an outage
	// at the provider, cost it at most one request per interval per replica.
	jwksMinRefetch = 30 * time.Second
	// jwksTimeout keeps a slow provider from holding requests for long.
	jwksTimeout = 10 * time.Second
	// jwksMaxBytes is far above any real key set and keeps a broken
	// endpoint from filling memory.
	jwksMaxBytes = 1 << 20
	// minRSABits refuses keys that are too weak to trust.
	minRSABits = 2048
)

// JWKSVerifier verifies RS256 and ES256 (P-256) tokens against the keys an
// identity provider publishes as a JSON Web Key Set (RFC 7517).
type JWKSVerifier struct {
	url    string
	client *http.Client
	opts   options

	// fetchMu serialises fetches, so a burst of tokens signed with a new key
	// makes one request, not one each.
	fetchMu sync.Mutex

	mu        sync.RWMutex
	keys      map[string][]publicKey // by kid; "" holds keys published without one
	fetched   time.Time              // last successful fetch
	attempted time.Time              // last fetch, successful or not
	lastErr   error                  // why the last fetch failed, nil after a success
}

type publicKey struct {
	alg string // the JWK's alg, when it names one
	key crypto.PublicKey
}

// NewJWKSVerifier returns a verifier using the key set at url, fetched lazily
// on first use, again when a token names an unknown kid, and hourly. A nil
// client means one with a 10 s timeout.
func NewJWKSVerifier(url string, client *http.Client, opts ...Option) *JWKSVerifier {
	if client == nil {
		client = &http.Client{Timeout: jwksTimeout}
	}
	return &JWKSVerifier{url: url, client: client, opts: newOptions(opts)}
}

// Verify implements Verifier.
func (v *JWKSVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	return v.opts.verify(token, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		keys, err := v.keysFor(ctx, kid)
		if err != nil {
			return nil, err
		}
		var usable []jwt.VerificationKey
		for _, k := range keys {
			if k.fits(t.Method.Alg()) {
				usable = append(usable, k.key)
			}
		}
		switch len(usable) {
		case 0:
			// The kid exists but for another algorithm: no key of ours
			// could have made this signature.
			return nil, errSignature
		case 1:
			return usable[0], nil
		}
		return jwt.VerificationKeySet{Keys: usable}, nil
	}, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
}

// fits reports whether the key can check a signature made with alg; the key
// type, not the token header, decides, so an RSA key is never used as an
// HMAC secret.
func (k publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg() && key.Curve == elliptic.P256()
	}
	return false
}

// keysFor returns the cached keys for kid, refreshing the set when it is
// stale or does not know kid.
func (v *JWKSVerifier) keysFor(ctx context.Context, kid string) ([]publicKey, error) {
	v.mu.RLock()
	keys, fresh := v.lookup(kid), !v.fetched.IsZero() && v.opts.now().Sub(v.fetched) < jwksRefresh
	v.mu.RUnlock()
	if fresh && len(keys) > 0 {
		return keys, nil
	}
	err := v.refresh(ctx)
	v.mu.RLock()
	keys = v.lookup(kid)
	v.mu.RUnlock()
	switch {
	case len(keys) > 0:
		// Possibly stale keys after a failed refresh: better than logging
		// every user out while the provider is down.
		return keys, nil
	case err != nil:
		return nil, errKeysUnavailable
	}
	return nil, errUnknownKey
}

// lookup returns the keys for kid; a token without a kid may match any key,
// which providers publishing a single key rely on. The caller holds mu.
func (v *JWKSVerifier) lookup(kid string) []publicKey {
	if kid != "" {
		return v.keys[kid]
	}
	var all []publicKey
	for _, ks := range v.keys {
		all = append(all, ks...)
	}
	return all
}

// refresh fetches the key set unless a fetch happened within jwksMinRefetch;
// it returns the error of the latest fetch.
func (v *JWKSVerifier) refresh(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	now := v.opts.now()
	v.mu.Lock()
	if !v.attempted.IsZero() && now.Sub(v.attempted) < jwksMinRefetch {
		err := v.lastErr
		v.mu.Unlock()
		return err
	}
	v.attempted = now
	v.mu.Unlock()

	keys, err := v.fetch(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastErr = err
	if err != nil {
		log := v.opts.log
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "jwks fetch failed", "url", v.url, "err", err)
		return err
	}
	v.keys, v.fetched = keys, now
	return nil
}

func (v *JWKSVerifier) fetch(ctx context.Context) (map[string][]publicKey, error) {
	// The fetch fills a cache every request shares, so one caller hanging up
	// must not abort it; the timeout still bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %s", v.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("jwks: key set larger than %d bytes", jwksMaxBytes)
	}
	return parseJWKS(body)
}

// jwk holds the members of an RFC 7517 key this package reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a key set, skipping keys it cannot use (encryption keys,
// other key types or curves, malformed members) so that one odd key does not
// lock everyone out.
func parseJWKS(data []byte) (map[string][]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := make(map[string][]publicKey)
	n := 0
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			continue
		}
		keys[k.Kid] = append(keys[k.Kid], pk)
		n++
	}
	if n == 0 {
		return nil, errors.New("jwks: no usable RS256 or ES256 keys")
	}
	return keys, nil
}

func (k jwk) publicKey() (publicKey, error) {
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != "RS256" {
			return publicKey{}, errors.New("unsupported alg")
		}
		n, err := b64(k.N)
		if err != nil {
			return publicKey{}, err
		}
		e, err := b64(k.E)
		if err != nil {
			return publicKey{}, err
		}
		if len(e) == 0 || len(e) > 4 {
			return publicKey{}, errors.New("bad exponent")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		mod := new(big.Int).SetBytes(n)
		if exp < 3 || mod.BitLen() < minRSABits {
			return publicKey{}, errors.New("weak key")
		}
		return publicKey{alg: k.Alg, key: &rsa.PublicKey{N: mod, E: exp}}, nil
	case "EC":
		if k.Crv != "P-256" || (k.Alg != "" && k.Alg != "ES256") {
			return publicKey{}, errors.New("unsupported curve")
		}
		x, err := b64(k.X)
		if err != nil {
			return publicKey{}, err
		}
		y, err := b64(k.Y)
		if err != nil {
			return publicKey{}, err
		}
		if len(x) != 32 || len(y) != 32 {
			return publicKey{}, errors.New("bad coordinates")
		}
		// Checks the point is on the curve, which the ECDSA maths assumes.
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{alg: k.Alg, key: key}, nil
	}
	return publicKey{}, errors.New("unsupported key type")
}

// b64 decodes base64url, tolerating the padding some providers add.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
