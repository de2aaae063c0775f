package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFile is the name of the development signing secret in the data dir.
const SecretFile = "jwt.secret"

// LoadOrCreateSecret returns the HS256 secret kept in <dataDir>/jwt.secret,
// creating it with 32 random bytes on first use. It exists for --dev and
// --demo, so tokens survive restarts without anyone choosing a secret;
// production passes RAPPORT_JWT_SECRET instead. The secret is never logged.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, SecretFile)
	secret, err := readSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	// O_EXCL: when two processes start on a fresh data dir, one creates the
	// file and the other reads it, so both sign with the same secret.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Leave no half-written secret behind for the next start to trust.
		_ = os.Remove(path)
		return nil, fmt.Errorf("auth: writing %s: %w", path, err)
	}
	return raw, nil
}

// readSecret reads a hex-encoded secret, or raw bytes when the file is not
// hex, so an operator may drop in a secret of either kind.
func readSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret := data
	if trimmed := bytes.TrimSpace(data); len(trimmed)%2 == 0 {
		if decoded, err := hex.DecodeString(string(trimmed)); err == nil {
			secret = decoded
		}
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: %s holds fewer than %d bytes of secret", path, MinSecretLen)
	}
	return secret, nil
}
