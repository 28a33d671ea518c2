// Package identity is the login side of Workbench: SMS verification codes,
// password and SMS login, sessions with rotating refresh tokens, a member's
// own password, the admin's reset of a member's password, and login logs.
//
// Everything lives in the identity table under the tenant's partition
// "T#<tenant>" (sessions, credentials, codes, lockouts, login logs), except
// the rate-limit counters of SMS sending, which count a mobile or a source
// address across tenants. Members themselves are read from the directory
// table through the directory's exported keys and decoders; identity never
// writes them. The services (Codes, Service) keep all of it behind their
// stores (CodeStore, Store) and hold no DynamoDB types; DynamoStore, in
// the *store.go files, is the DynamoDB one. A login attempt's entry in the
// login log is written in the same transaction as what the attempt
// changes (a session, a used code, a lockout).
package identity

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"workbench/shared/auth"
	"workbench/shared/tenant"
)

// Tenants finds a tenant by its code; tenant.DynamoStore is one.
type Tenants interface {
	Get(ctx context.Context, code string) (tenant.Tenant, error)
}

var _ Tenants = (*tenant.DynamoStore)(nil)

// Rules of the login side. They are the numbers; the service takes
// them from here so tests and documentation name one place.
const (
	CodeTTL           = 5 * time.Minute
	CodeMaxTries      = 5
	CodeCooldown      = 60 * time.Second
	MaxFailures       = 5
	FailureWindow     = 15 * time.Minute
	LockDuration      = 15 * time.Minute
	OneTimeTTL        = 24 * time.Hour
	LoginLogTTL       = 180 * 24 * time.Hour
	DefaultSessionTTL = 30 * 24 * time.Hour
)

// Key labels: each keyed hash derives its own key from its secret, so a
// value hashed for one purpose never matches another's.
const (
	LabelCodes   = "workbench identity sms codes"
	LabelRefresh = "workbench identity refresh tokens"
)

// Hasher computes keyed hashes (HMAC-SHA256) of length-prefixed parts.
type Hasher struct{ key []byte }

// NewHasher derives a hashing key for label from a secret's text.
func NewHasher(secret, label string) (*Hasher, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, label, 32)
	if err != nil {
		return nil, err
	}
	return &Hasher{key: key}, nil
}

// Sum returns the keyed hash of parts, base64url.
func (h *Hasher) Sum(parts ...string) string {
	mac := hmac.New(sha256.New, h.key)
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		mac.Write(n[:])
		mac.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// tenantPK is the tenant's partition of the identity table.
func tenantPK(tenantID string) string { return auth.TenantPK(tenantID) }

// stamp is the fixed-width UTC time form used in sort keys and conditions,
// so that string order is time order.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
