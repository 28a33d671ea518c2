// Package auth checks who is calling: the platform operator (a bearer key
// from the secret store) or a member of a tenant (a signed access token).
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"workbench/shared/errs"
)

// BearerToken returns the token of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Operator authenticates the platform operator by its bearer key.
type Operator struct {
	sum [32]byte
}

// NewOperator returns a checker for key.
func NewOperator(key string) *Operator {
	return &Operator{sum: sha256.Sum256([]byte(key))}
}

// Check accepts r when it carries the operator key. Comparing digests in
// constant time keeps both the key and its length from leaking through
// timing.
func (o *Operator) Check(r *http.Request) error {
	token := BearerToken(r)
	got := sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare(got[:], o.sum[:]) != 1 {
		return errs.E(errs.Unauthenticated, "invalid_operator_key", "a valid operator key is required (Authorization: Bearer <key>)")
	}
	return nil
}
