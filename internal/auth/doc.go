// Package auth decides who a caller is and what it may do: roles and their
// scopes, the principal carried by a request context, bearer token
// verification (local HS256 and an identity provider's JWKS), the development
// signing secret and API key material. It knows nothing of HTTP servers or
// GraphQL; the graph package wires it in.
package auth
