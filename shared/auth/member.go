package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"workbench/shared/audit"
	"workbench/shared/billing"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// Principal is the member a request acts for. Every store call of an
// authenticated request is scoped by its TenantID.
type Principal struct {
	TenantID   string
	TenantCode string
	MemberID   string
	Role       string // "admin" or "member", as the member item says now
	SessionID  string
	// DepartmentIDs are the member's departments as the member item says
	// now: what an audience by department is matched against, read with
	// the session at no extra cost.
	DepartmentIDs []string
}

// IsAdmin reports whether the principal is an admin of its tenant.
func (p Principal) IsAdmin() bool { return p.Role == "admin" }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf returns the principal of an authenticated request. Handlers
// behind Members.Require always have one.
func PrincipalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// AccessTTL is how long an access token lives.
const AccessTTL = 15 * time.Minute

const (
	issuer   = "workbench"
	audience = "workbench-api"
)

// Tokens issues and verifies access tokens: HS256 JWTs keyed with the
// token-signing secret.
type Tokens struct {
	Key []byte
	TTL time.Duration // AccessTTL when zero
	Now func() time.Time
}

type claims struct {
	jwt.RegisteredClaims
	TenantCode string `json:"tc"`
	Tenant     string `json:"tid"`
	Role       string `json:"role"`
	Session    string `json:"sid"`
}

func (t *Tokens) ttl() time.Duration {
	if t.TTL > 0 {
		return t.TTL
	}
	return AccessTTL
}

// Issue returns a signed access token for p and its lifetime.
func (t *Tokens) Issue(p Principal) (string, time.Duration, error) {
	now := t.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Audience:  jwt.ClaimStrings{audience},
			Subject:   p.MemberID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl())),
		},
		TenantCode: p.TenantCode, Tenant: p.TenantID, Role: p.Role, Session: p.SessionID,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.Key)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign token: %w", err)
	}
	return s, t.ttl(), nil
}

// Verify checks a token's signature, algorithm, issuer, audience and times,
// and returns its principal.
func (t *Tokens) Verify(token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.Key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithTimeFunc(t.Now), jwt.WithExpirationRequired())
	if err != nil {
		code, msg := "invalid_token", "the access token is not valid"
		if errors.Is(err, jwt.ErrTokenExpired) {
			code, msg = "token_expired", "the access token has expired; refresh it"
		}
		return Principal{}, errs.E(errs.Unauthenticated, code, "%s", msg)
	}
	if c.Subject == "" || c.Tenant == "" || c.Session == "" {
		return Principal{}, errs.E(errs.Unauthenticated, "invalid_token", "the access token is not valid")
	}
	return Principal{TenantID: c.Tenant, TenantCode: c.TenantCode, MemberID: c.Subject, Role: c.Role, SessionID: c.Session}, nil
}

// SessionChecker confirms that a verified token's session is still live
// and its member still enabled, and returns the member's current role and
// the state of the tenant's subscription.
type SessionChecker interface {
	CheckSession(ctx context.Context, p Principal) (Status, error)
}

// Status is what a session check found.
type Status struct {
	Role          string        // the member's role now
	DepartmentIDs []string      // the member's departments now
	Subscription  billing.State // the tenant's subscription now
}

// Members authenticates members: one middleware for every authenticated
// route of every function.
type Members struct {
	Tokens   *Tokens
	Sessions SessionChecker
}

// Require runs h for requests with a valid access token of a live session
// of an enabled member, with the principal in the context, as far as the
// tenant's subscription allows: writes (anything but GET and HEAD) answer
// 403 subscription_retention in retention, and everything answers 403
// subscription_released once released.
func (m *Members) Require(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return m.require(h, false)
}

// RequireInRetention is Require for the few writes that concern only the
// caller's own session or credentials (logout, setting a password), which
// stay allowed in retention so admins can still log in to renew.
func (m *Members) RequireInRetention(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return m.require(h, true)
}

func (m *Members) require(h httpapi.HandlerFunc, retentionWrites bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := BearerToken(r)
		if token == "" {
			return errs.E(errs.Unauthenticated, "missing_token", "an access token is required (Authorization: Bearer <token>)")
		}
		p, err := m.Tokens.Verify(token)
		if err != nil {
			return err
		}
		st, err := m.Sessions.CheckSession(r.Context(), p)
		if err != nil {
			return err
		}
		method := r.Method
		if retentionWrites && st.Subscription == billing.Retention {
			method = http.MethodGet
		}
		if err := billing.Allow(st.Subscription, method); err != nil {
			return err
		}
		p.Role, p.DepartmentIDs = st.Role, st.DepartmentIDs
		// The audit log names the member a change was made by.
		ctx := audit.WithActor(WithPrincipal(r.Context(), p), p.TenantID, p.MemberID)
		return h(w, r.WithContext(ctx))
	}
}

// RequireAdmin is Require for admin-only routes: members get 403.
func (m *Members) RequireAdmin(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return m.Require(func(w http.ResponseWriter, r *http.Request) error {
		if !PrincipalOf(r.Context()).IsAdmin() {
			return errs.E(errs.Forbidden, "admin_only", "only an admin of the tenant may do this")
		}
		return h(w, r)
	})
}
