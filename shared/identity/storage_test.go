package identity_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// TestNothingInPlainText looks at every item of the identity table after a
// round of logins: no code, mobile, password or token is stored as it is.
func TestNothingInPlainText(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
	r := s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code))
	want(t, "login", r, 200, "")
	access := r.Str("accessToken")
	want(t, "set password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Plain-Text-Never"}), 204, "")
	r = passwordLogin(t, s, ten.Code, ten.AdminAccount, "Plain-Text-Never")
	want(t, "password login", r, 200, "")
	refresh := r.Str("refreshToken")
	passwordLogin(t, s, ten.Code, ten.AdminAccount, "Wrong-Plain-Text")
	unused := requestCode(t, s, ten.Code, ten.AdminMobile, "login")

	out, err := s.Env.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(s.Tables["IdentityTable"])})
	if err != nil {
		t.Fatal(err)
	}
	dump, _ := json.Marshal(out.Items)
	secret := refresh[strings.LastIndexByte(refresh, '.')+1:]
	for what, v := range map[string]string{"code": code, "unused code": unused, "mobile": ten.AdminMobile, "password": "Plain-Text-Never",
		"wrong password": "Wrong-Plain-Text", "refresh token": secret, "access token": access} {
		if strings.Contains(string(dump), v) {
			t.Errorf("the identity table holds the %s in plain text", what)
		}
	}
	if !strings.Contains(string(dump), "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Error("no argon2id hash with its parameters in the identity table")
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	first := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	want(t, "set password", s.Do(t, "PUT", "/v1/me/password", first, map[string]any{"password": "First-Pass-2026"}), 204, "")
	second := passwordLogin(t, s, ten.Code, ten.AdminAccount, "First-Pass-2026").Str("accessToken")
	want(t, "change", s.Do(t, "PUT", "/v1/me/password", first, map[string]any{"password": "Second-Pass-2026", "currentPassword": "First-Pass-2026"}), 204, "")
	want(t, "the changing session", s.Do(t, "GET", "/v1/me", first, nil), 200, "")
	want(t, "another session", s.Do(t, "GET", "/v1/me", second, nil), 401, "session_revoked")
	want(t, "old password", passwordLogin(t, s, ten.Code, ten.AdminAccount, "First-Pass-2026"), 401, "invalid_credentials")
	want(t, "new password", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Second-Pass-2026"), 200, "")
}

func TestSessionLifetime(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	r := smsLogin(t, s, ten.Code, ten.AdminMobile)
	s.Clock.Add(16 * time.Minute)
	want(t, "access token after 15 minutes", s.Do(t, "GET", "/v1/me", r.Str("accessToken"), nil), 401, "token_expired")
	r = s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r.Str("refreshToken")})
	want(t, "refresh after 16 minutes", r, 200, "")
	want(t, "refreshed access token", s.Do(t, "GET", "/v1/me", r.Str("accessToken"), nil), 200, "")
	s.Clock.Add(30 * 24 * time.Hour)
	want(t, "refresh after 30 days", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r.Str("refreshToken")}), 401, "session_expired")
}
