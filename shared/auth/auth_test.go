package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/errs"
)

func TestOperatorCheck(t *testing.T) {
	op := NewOperator("local-operator-key")
	for header, ok := range map[string]bool{
		"Bearer local-operator-key":  true,
		"bearer local-operator-key":  true,
		"Bearer local-operator-key2": false,
		"Bearer local-operator-ke":   false,
		"Bearer ":                    false,
		"":                           false,
		"Basic local-operator-key":   false,
		"local-operator-key":         false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		err := op.Check(r)
		if (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want ok=%v", header, err, ok)
		}
		if err != nil && errs.KindOf(err) != errs.Unauthenticated {
			t.Errorf("Check(%q) kind %v", header, errs.KindOf(err))
		}
	}
}

func TestTokensRoundTripAndRejections(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	tok := &Tokens{Key: []byte("0123456789abcdef0123456789abcdef"), Now: clock}
	p := Principal{TenantID: "t1", TenantCode: "acme", MemberID: "m1", Role: "admin", SessionID: "s1"}
	s, ttl, err := tok.Issue(p)
	if err != nil || ttl != AccessTTL {
		t.Fatal(err, ttl)
	}
	got, err := tok.Verify(s)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}

	other := &Tokens{Key: []byte("another-key-another-key-another-k"), Now: clock}
	if _, err := other.Verify(s); !errs.Is(err, "invalid_token") {
		t.Errorf("token of another key: %v", err)
	}
	late := &Tokens{Key: tok.Key, Now: func() time.Time { return now.Add(AccessTTL + time.Second) }}
	if _, err := late.Verify(s); !errs.Is(err, "token_expired") {
		t.Errorf("expired token: %v", err)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "m1", "tid": "t1", "sid": "s1", "iss": issuer, "aud": audience, "exp": now.Add(time.Hour).Unix()})
	unsigned, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := tok.Verify(unsigned); !errs.Is(err, "invalid_token") {
		t.Errorf("alg none accepted: %v", err)
	}
	parts := strings.Split(s, ".")
	if _, err := tok.Verify(parts[0] + "." + parts[1] + ".AAAA"); !errs.Is(err, "invalid_token") {
		t.Errorf("bad signature accepted: %v", err)
	}
}

type fakeSessions struct {
	role  string
	state billing.State
	err   error
}

func (f fakeSessions) CheckSession(context.Context, Principal) (Status, error) {
	if f.state == "" {
		f.state = billing.Valid
	}
	return Status{Role: f.role, Subscription: f.state}, f.err
}

func TestRequireUsesCurrentRole(t *testing.T) {
	tok := &Tokens{Key: []byte("0123456789abcdef0123456789abcdef"), Now: time.Now}
	s, _, _ := tok.Issue(Principal{TenantID: "t1", MemberID: "m1", Role: "admin", SessionID: "s1"})
	call := func(m *Members, admin bool, header string) (int, Principal) {
		var seen Principal
		h := func(w http.ResponseWriter, r *http.Request) error { seen = PrincipalOf(r.Context()); return nil }
		wrapped := m.Require(h)
		if admin {
			wrapped = m.RequireAdmin(h)
		}
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		err := wrapped(httptest.NewRecorder(), r)
		if err != nil {
			return int(errs.KindOf(err)), seen
		}
		return 0, seen
	}
	demoted := &Members{Tokens: tok, Sessions: fakeSessions{role: "member"}}
	if k, p := call(demoted, false, "Bearer "+s); k != 0 || p.Role != "member" || p.TenantID != "t1" {
		t.Errorf("require: kind %d principal %+v", k, p)
	}
	if k, _ := call(demoted, true, "Bearer "+s); k != int(errs.Forbidden) {
		t.Errorf("demoted admin passed RequireAdmin: kind %d", k)
	}
	if k, _ := call(demoted, false, ""); k != int(errs.Unauthenticated) {
		t.Errorf("no token: kind %d", k)
	}
	revoked := &Members{Tokens: tok, Sessions: fakeSessions{err: errs.E(errs.Unauthenticated, "session_revoked", "x")}}
	if k, _ := call(revoked, false, "Bearer "+s); k != int(errs.Unauthenticated) {
		t.Errorf("revoked session: kind %d", k)
	}
}

func TestRequireFollowsSubscriptionState(t *testing.T) {
	tok := &Tokens{Key: []byte("0123456789abcdef0123456789abcdef"), Now: time.Now}
	s, _, _ := tok.Issue(Principal{TenantID: "t1", TenantCode: "acme", MemberID: "m1", Role: "admin", SessionID: "s1"})
	ok := func(w http.ResponseWriter, r *http.Request) error { return nil }
	tests := []struct {
		state     billing.State
		method    string
		inRetOK   bool
		wantCode  string
		wantKind  errs.Kind
		wantAllow bool
	}{
		{billing.Valid, "POST", false, "", 0, true},
		{billing.Grace, "DELETE", false, "", 0, true},
		{billing.Retention, "GET", false, "", 0, true},
		{billing.Retention, "HEAD", false, "", 0, true},
		{billing.Retention, "PUT", false, "subscription_retention", errs.Forbidden, false},
		{billing.Retention, "POST", false, "subscription_retention", errs.Forbidden, false},
		{billing.Retention, "POST", true, "", 0, true},
		{billing.Released, "GET", false, "subscription_released", errs.Forbidden, false},
		{billing.Released, "POST", true, "subscription_released", errs.Forbidden, false},
	}
	for _, tt := range tests {
		m := &Members{Tokens: tok, Sessions: fakeSessions{role: "admin", state: tt.state}}
		h := m.Require(ok)
		if tt.inRetOK {
			h = m.RequireInRetention(ok)
		}
		r := httptest.NewRequest(tt.method, "/", nil)
		r.Header.Set("Authorization", "Bearer "+s)
		err := h(httptest.NewRecorder(), r)
		if tt.wantAllow != (err == nil) || (err != nil && (!errs.Is(err, tt.wantCode) || errs.KindOf(err) != tt.wantKind)) {
			t.Errorf("%s %s (inRetention %v): %v", tt.state, tt.method, tt.inRetOK, err)
		}
	}
}

func TestSessionValid(t *testing.T) {
	begun := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := begun.Add(time.Hour)
	live := Session{CreatedAt: begun, ExpiresAt: begun.Add(24 * time.Hour)}
	revoked, expired := live, live
	revoked.RevokedAt = &now
	expired.ExpiresAt = now
	before, at, after := begun.Add(-time.Minute), begun, begun.Add(time.Minute)
	enabled := &directory.Principal{Role: "member", Enabled: true}
	disabled := &directory.Principal{Role: "admin"}
	tests := []struct {
		name   string
		sess   Session
		member *directory.Principal
		want   string // error code, "" for a valid session
	}{
		{"live", live, enabled, ""},
		{"revoked", revoked, enabled, "session_revoked"},
		{"expired at the instant", expired, enabled, "session_expired"},
		{"revoked and expired", func() Session { s := expired; s.RevokedAt = &now; return s }(), enabled, "session_revoked"},
		{"member gone", live, nil, "session_revoked"},
		{"member disabled", live, disabled, "account_disabled"},
		{"revoked, member disabled", revoked, disabled, "session_revoked"},
		{"disabled before it began", live, &directory.Principal{Enabled: true, SessionsNotBefore: &before}, ""},
		{"disabled as it began", live, &directory.Principal{Enabled: true, SessionsNotBefore: &at}, "session_revoked"},
		{"disabled since it began", live, &directory.Principal{Enabled: true, SessionsNotBefore: &after}, "session_revoked"},
	}
	for _, tt := range tests {
		err := tt.sess.Valid(tt.member, now)
		if tt.want == "" && err != nil || tt.want != "" && (!errs.Is(err, tt.want) || errs.KindOf(err) != errs.Unauthenticated) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
