package database

import (
	"fmt"
	"net/url"
)

// withDatabase returns the PostgreSQL URL u pointing at database name.
func withDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	p.Path = "/" + name
	return p.String(), nil
}

// WithDatabase returns the PostgreSQL URL u pointing at database name.
func WithDatabase(u, name string) (string, error) { return withDatabase(u, name) }
