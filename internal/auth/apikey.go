package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// API keys look like rpk_<prefix>_<secret>: the rpk_ marker lets secret
// scanners recognise leaked keys, the prefix finds the stored key without
// revealing anything, and the secret is 32 base62 characters (~190 bits).
const (
	apiKeyMarker    = "rpk_"
	apiKeyPrefixLen = 8
	apiKeySecretLen = 32
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// GenerateAPIKey returns a new key to show once, its lookup prefix and the
// hash to store.
func GenerateAPIKey() (plain, prefix string, hash []byte, err error) {
	prefix, err = randomBase62(apiKeyPrefixLen)
	if err != nil {
		return "", "", nil, err
	}
	secret, err := randomBase62(apiKeySecretLen)
	if err != nil {
		return "", "", nil, err
	}
	plain = apiKeyMarker + prefix + "_" + secret
	return plain, prefix, HashAPIKey(plain), nil
}

// HashAPIKey returns the SHA-256 of the key. A slow password hash (bcrypt,
// argon2) exists to make guessing low-entropy passwords expensive; a
// 190-bit random key cannot be guessed, so a fast hash is as safe and keeps
// every API request from paying tens of milliseconds.
func HashAPIKey(plain string) []byte {
	sum := sha256.Sum256([]byte(plain))
	return sum[:]
}

// APIKeyMatches reports whether plain hashes to hash, in constant time so the
// comparison leaks nothing about the stored hash.
func APIKeyMatches(plain string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashAPIKey(plain), hash) == 1
}

// ParseAPIKey returns the lookup prefix of a well-formed key; ok is false for
// anything else, so malformed keys never reach the database.
func ParseAPIKey(plain string) (prefix string, ok bool) {
	rest, found := strings.CutPrefix(plain, apiKeyMarker)
	if !found || len(rest) != apiKeyPrefixLen+1+apiKeySecretLen || rest[apiKeyPrefixLen] != '_' {
		return "", false
	}
	prefix, secret := rest[:apiKeyPrefixLen], rest[apiKeyPrefixLen+1:]
	if !isBase62(prefix) || !isBase62(secret) {
		return "", false
	}
	return prefix, true
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return false
		}
	}
	return true
}

// randomBase62 draws n uniform base62 characters; bytes at or above 248
// (4×62) are rejected because keeping them would bias the first letters.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}
