package identity_test

import (
	"context"
	"crypto/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
	"workbench/shared/keyring"
)

type tenantInfo struct {
	Code, ID, AdminID, AdminMobile, AdminAccount string
}

func newTenant(t testing.TB, s *Stack) tenantInfo {
	t.Helper()
	code := "co" + strings.ToLower(rand.Text()[:8])
	mobile := s.Mobile()
	r := s.Do(t, "POST", "/v1/platform/tenants", "local-operator-key", map[string]any{
		"code": code, "name": "Acme 制造", "admin": map[string]any{"name": "张三", "mobile": mobile},
	})
	if r.Status == 409 && r.Code() == "tenant_code_taken" {
		// The code is random, so the tenant is this request's own: the local
		// moto sometimes loses a response and the SDK retries a transaction
		// that had been applied. Find what it created.
		return createdTenant(t, s, code, mobile)
	}
	if r.Status != 201 {
		t.Fatalf("create tenant: %d %s", r.Status, r.Raw)
	}
	ten := r.Body["tenant"].(map[string]any)
	adm := r.Body["admin"].(map[string]any)
	return tenantInfo{Code: code, ID: ten["id"].(string), AdminID: adm["id"].(string), AdminMobile: mobile, AdminAccount: adm["account"].(string)}
}

func createdTenant(t testing.TB, s *Stack, code, mobile string) tenantInfo {
	t.Helper()
	r := s.Do(t, "GET", "/v1/platform/tenants/"+code, "local-operator-key", nil)
	if r.Status != 200 {
		t.Fatalf("get tenant: %d %s", r.Status, r.Raw)
	}
	tid := r.Str("id")
	out, err := s.Env.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(s.Tables["DirectoryTable"]),
		Key:       codecOf(t, s).UniqueKey(tid, directory.UniqueMobile, mobile),
	})
	if err != nil || out.Item == nil {
		t.Fatalf("find the admin of %s: %v", code, err)
	}
	admin := out.Item["memberId"].(*types.AttributeValueMemberS).Value
	return tenantInfo{Code: code, ID: tid, AdminID: admin, AdminMobile: mobile, AdminAccount: "zhangsan"}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// lastCode returns the code of the newest SMS to mobile, failing when none
// arrived since `before` messages.
func lastCode(t testing.TB, s *Stack, mobile string, before int) string {
	t.Helper()
	msgs := s.SMS(t, mobile)
	if len(msgs) <= before {
		t.Fatalf("no new SMS to %s (had %d)", mobile, before)
	}
	c := sixDigits.FindString(msgs[len(msgs)-1])
	if c == "" {
		t.Fatalf("no code in %q", msgs[len(msgs)-1])
	}
	return c
}

// requestCode asks for a code and returns it, first moving the clock past
// the resend cooldown.
func requestCode(t testing.TB, s *Stack, tenant, mobile, purpose string) string {
	t.Helper()
	s.Clock.Add(61 * time.Second)
	before := len(s.SMS(t, mobile))
	r := s.Do(t, "POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tenant, "mobile": mobile, "purpose": purpose})
	if r.Status != 202 {
		t.Fatalf("sms-codes: %d %s", r.Status, r.Raw)
	}
	return lastCode(t, s, mobile, before)
}

func smsLogin(t testing.TB, s *Stack, tenant, mobile string) Resp {
	t.Helper()
	code := requestCode(t, s, tenant, mobile, "login")
	r := s.Do(t, "POST", "/v1/auth/login", "", map[string]any{"tenant": tenant, "method": "sms", "mobile": mobile, "code": code})
	if r.Status != 200 {
		t.Fatalf("sms login: %d %s", r.Status, r.Raw)
	}
	return r
}

func passwordLogin(t *testing.T, s *Stack, tenant, account, password string) Resp {
	t.Helper()
	return s.Do(t, "POST", "/v1/auth/login", "", map[string]any{"tenant": tenant, "method": "password", "account": account, "password": password})
}

func codecOf(t testing.TB, s *Stack) *directory.Codec {
	t.Helper()
	ctx := context.Background()
	data, err := s.Env.Secret(ctx, "DATA_KEYS_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := s.Env.Secret(ctx, "INDEX_KEY_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	index, err := keyring.NewIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	return &directory.Codec{Table: s.Tables["DirectoryTable"], Keys: keys, Index: index}
}

// addMember writes a member the way Directory does (no password).
func addMember(t *testing.T, s *Stack, tenantID, name, account, role string) directory.Member {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	m := directory.Member{ID: ids.New(now), TenantID: tenantID, Name: name, Mobile: s.Mobile(), Account: account,
		Role: role, Enabled: true, DepartmentIDs: []string{}, Fields: map[string]any{}, CreatedAt: now, UpdatedAt: now, Version: 1}
	items, err := codecOf(t, s).CreateItems(m, ids.New(now))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Env.DynamoDB.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if dynamo.FailedCondition(err, directory.CreateMember) {
		// A retried request whose first attempt was applied (see newTenant).
		out, gerr := s.Env.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(s.Tables["DirectoryTable"]), Key: codecOf(t, s).Key(tenantID, m.ID)})
		if gerr == nil && out.Item != nil {
			err = nil
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// setEnabled flips a member's status in the directory table, as Directory
// would.
func setEnabled(t *testing.T, s *Stack, tenantID, memberID string, enabled bool) {
	t.Helper()
	_, err := s.Env.DynamoDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Tables["DirectoryTable"]),
		Key:                       codecOf(t, s).Key(tenantID, memberID),
		UpdateExpression:          aws.String("SET enabled = :e"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberBOOL{Value: enabled}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func want(t testing.TB, what string, r Resp, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.Code() != code) {
		t.Fatalf("%s: got %d %s, want %d %s", what, r.Status, r.Raw, status, code)
	}
}

func TestWalkthrough(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)

	// The admin has no password: password login answers as for a wrong
	// password, so that it does not tell the account exists.
	r := passwordLogin(t, s, ten.Code, ten.AdminAccount, "whatever-password")
	want(t, "password login before one is set", r, 401, "invalid_credentials")

	// SMS login: mustSetPassword.
	r = smsLogin(t, s, ten.Code, ten.AdminMobile)
	if r.Body["mustSetPassword"] != true || r.Str("accessToken") == "" || r.Str("refreshToken") == "" || r.Body["expiresIn"] != float64(900) {
		t.Fatalf("sms login: %s", r.Raw)
	}
	if m := r.Body["member"].(map[string]any); m["id"] != ten.AdminID || m["mobile"] != ten.AdminMobile {
		t.Fatalf("login member: %v", m)
	}
	access := r.Str("accessToken")
	me := s.Do(t, "GET", "/v1/me", access, nil)
	want(t, "me", me, 200, "")
	if me.Body["id"] != ten.AdminID || me.Body["mustSetPassword"] != true || me.Body["tenant"].(map[string]any)["code"] != ten.Code {
		t.Fatalf("me: %s", me.Raw)
	}

	// Set the password without the (non-existent) current one.
	want(t, "too short", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "short"}), 400, "password_too_short")
	want(t, "account as password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": ten.AdminAccount}), 400, "password_is_account")
	want(t, "mobile as password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": ten.AdminMobile}), 400, "password_is_mobile")
	want(t, "set password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Admin-Pass-2026"}), 204, "")
	// The flag is off now: a change needs the current password.
	want(t, "change without current", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Another-Pass-2026"}), 400, "current_password_required")
	want(t, "change with wrong current", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Another-Pass-2026", "currentPassword": "nope-nope-nope"}), 403, "wrong_password")

	// Password login.
	r = passwordLogin(t, s, ten.Code, ten.AdminAccount, "Admin-Pass-2026")
	want(t, "password login", r, 200, "")
	if r.Body["mustSetPassword"] != false {
		t.Fatalf("mustSetPassword after setting one: %s", r.Raw)
	}
	refresh := r.Str("refreshToken")

	// Refresh rotates.
	r = s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": refresh})
	want(t, "refresh", r, 200, "")
	if r.Str("refreshToken") == refresh || r.Str("accessToken") == "" {
		t.Fatalf("refresh did not rotate: %s", r.Raw)
	}
	access, refresh = r.Str("accessToken"), r.Str("refreshToken")
	want(t, "me with refreshed token", s.Do(t, "GET", "/v1/me", access, nil), 200, "")

	// Logout: the access token and the refresh token die.
	want(t, "logout", s.Do(t, "POST", "/v1/auth/logout", access, nil), 204, "")
	want(t, "me after logout", s.Do(t, "GET", "/v1/me", access, nil), 401, "session_revoked")
	want(t, "refresh after logout", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": refresh}), 401, "session_revoked")
}

func TestRefreshTokenReuseRevokesSession(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	r := smsLogin(t, s, ten.Code, ten.AdminMobile)
	r1 := r.Str("refreshToken")
	r = s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r1})
	want(t, "first refresh", r, 200, "")
	r2, access2 := r.Str("refreshToken"), r.Str("accessToken")
	want(t, "me", s.Do(t, "GET", "/v1/me", access2, nil), 200, "")

	want(t, "reuse of the old token", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r1}), 401, "refresh_token_reused")
	want(t, "the newest token after reuse", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r2}), 401, "session_revoked")
	want(t, "access token after reuse", s.Do(t, "GET", "/v1/me", access2, nil), 401, "session_revoked")

	// A forged token for a live session does not revoke it.
	r = smsLogin(t, s, ten.Code, ten.AdminMobile)
	parts := strings.Split(r.Str("refreshToken"), ".")
	parts[4] = strings.Repeat("A", 43)
	want(t, "forged refresh", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": strings.Join(parts, ".")}), 401, "invalid_refresh_token")
	want(t, "real refresh after forgery", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": r.Str("refreshToken")}), 200, "")
	want(t, "garbage refresh", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": "nope"}), 401, "invalid_refresh_token")
	want(t, "empty refresh", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": ""}), 400, "invalid_refresh_token")
}
