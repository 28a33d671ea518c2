package stacktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"workbench/infra/localstack"
	"workbench/infra/template"
	"workbench/shared/auth"
	"workbench/shared/ids"
)

// Tenant is a tenant created through the operator API.
type Tenant struct {
	ID, Code, Name, LoginURL string
	// Admin is the tenant's first admin, with an access token.
	Admin Member
}

// Member is a member of a test tenant.
type Member struct {
	ID, Name, Mobile, Account string
	// Token is an access token of a live session of the member.
	Token string
}

// NewTenant creates a tenant with a fresh code and admin mobile through
// POST /v1/platform/tenants, and opens a session for its admin.
func (s *Stack) NewTenant(t testing.TB) Tenant {
	t.Helper()
	code := fmt.Sprintf("t%x", ids.New(time.Now())[16:])
	mobile := s.Mobile()
	var out struct {
		Tenant struct{ ID, Code, Name, LoginURL string }
		Admin  struct{ ID, Name, Mobile, Account string }
	}
	status := s.DoJSON(t, "POST", "/v1/platform/tenants", s.OperatorKey(), map[string]any{
		"code": code, "name": "测试企业 " + code, "admin": map[string]string{"name": "管理员", "mobile": mobile},
	}, &out)
	if status != 201 {
		t.Fatalf("stacktest: create tenant: status %d", status)
	}
	tn := Tenant{ID: out.Tenant.ID, Code: out.Tenant.Code, Name: out.Tenant.Name, LoginURL: out.Tenant.LoginURL,
		Admin: Member{ID: out.Admin.ID, Name: out.Admin.Name, Mobile: out.Admin.Mobile, Account: out.Admin.Account}}
	tn.Admin.Token = s.Token(t, tn.ID, tn.Code, tn.Admin.ID)
	return tn
}

// Token opens a session for a member, as a login would, and returns an
// access token for it signed with the stack's token key.
func (s *Stack) Token(t testing.TB, tenantID, tenantCode, memberID string) string {
	t.Helper()
	now := time.Now()
	if s.now != nil {
		now = s.now()
	}
	sec, ok := secret(s.local, "TokenKeySecret")
	if !ok {
		t.Fatal("stacktest: the template has no TokenKeySecret")
	}
	key, err := localstack.SecretValue(sec)
	if err != nil {
		t.Fatal(err)
	}
	sess := auth.NewSession(ids.New(now), tenantID, tenantCode, memberID, "test", now, 30*24*time.Hour)
	store := &auth.DynamoSessions{DB: s.DynamoDB(), IdentityTable: s.Tables["IdentityTable"]}
	if err := store.Put(context.Background(), sess); err != nil {
		t.Fatalf("stacktest: open session: %v", err)
	}
	tokens := &auth.Tokens{Key: []byte(key), Now: func() time.Time { return now }}
	token, _, err := tokens.Issue(auth.Principal{TenantID: tenantID, TenantCode: tenantCode, MemberID: memberID, Role: "member", SessionID: sess.ID})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func secret(ls *localstack.Stack, id string) (sec template.Secret, ok bool) {
	for _, sec := range ls.Template().Secrets {
		if sec.LogicalID == id {
			return sec, true
		}
	}
	return template.Secret{}, false
}
