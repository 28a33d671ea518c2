// Package tenant manages enterprises (tenants): the platform operator
// creates them, each with its first admin, and looks them up.
package tenant

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/ids"
	"workbench/shared/sms"
	"workbench/shared/text"
)

// Tenant is an enterprise using Workbench.
type Tenant struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	LoginURL  string    `json:"loginUrl"`
	CreatedAt time.Time `json:"createdAt"`
	// Subscription is nil while the operator has set none: the tenant then
	// runs without expiry.
	Subscription *billing.Subscription `json:"-"`
}

// Store keeps tenants.
type Store interface {
	// Create adds t with its first admin in one transaction; a taken code
	// is a Conflict "tenant_code_taken".
	Create(ctx context.Context, t Tenant, admin directory.Member) error
	// Get returns the tenant with code, or NotFound.
	Get(ctx context.Context, code string) (Tenant, error)
}

// Service is the tenant capability.
type Service struct {
	Store Store
	SMS   sms.Sender
	// LoginURL is the login address template; "{tenant}" stands for the
	// tenant code.
	LoginURL string
	Now      func() time.Time
}

// AdminInput names the first admin of a new tenant.
type AdminInput struct {
	Name   string `json:"name"`
	Mobile string `json:"mobile"`
}

// CreateInput is the operator's request to create a tenant.
type CreateInput struct {
	Code  string     `json:"code"`
	Name  string     `json:"name"`
	Admin AdminInput `json:"admin"`
}

// Created is the outcome of Create.
type Created struct {
	Tenant Tenant           `json:"tenant"`
	Admin  directory.Member `json:"admin"`
	// AdminNotified is false when the SMS to the admin could not be sent;
	// the tenant exists all the same.
	AdminNotified bool `json:"adminNotified"`
}

// Create adds a tenant and its first admin, then tells the admin by SMS
// where to log in. The admin has no password yet: the first login is by SMS
// code.
func (s *Service) Create(ctx context.Context, in CreateInput) (Created, error) {
	code, err := NormalizeCode("code", in.Code)
	if err != nil {
		return Created{}, err
	}
	name, err := normalizeTenantName("name", in.Name)
	if err != nil {
		return Created{}, err
	}
	adminName, err := directory.NormalizeName("admin.name", in.Admin.Name)
	if err != nil {
		return Created{}, err
	}
	mobile, err := directory.NormalizeMobile("admin.mobile", in.Admin.Mobile)
	if err != nil {
		return Created{}, err
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	t := Tenant{ID: ids.New(now), Code: code, Name: name, CreatedAt: now}
	t.LoginURL = s.loginURL(code)
	admin := directory.Member{
		ID: ids.New(now), TenantID: t.ID, Name: adminName, Mobile: mobile,
		Account: directory.AccountFromName(adminName), Role: directory.RoleAdmin, Enabled: true,
		DepartmentIDs: []string{}, Fields: map[string]any{}, CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	if err := s.Store.Create(ctx, t, admin); err != nil {
		return Created{}, err
	}
	out := Created{Tenant: t, Admin: admin, AdminNotified: true}
	text := "【" + t.Name + "】您已成为企业管理员，账号 " + admin.Account +
		"。请打开 " + t.LoginURL + " 使用手机短信验证码登录，登录后设置密码。"
	if err := s.SMS.Send(ctx, mobile, text); err != nil {
		// The tenant is created and the operator cannot undo it by retrying;
		// say so instead of failing the whole request.
		slog.ErrorContext(ctx, "admin welcome SMS failed", "tenant", t.ID, "member", admin.ID, "error", err)
		out.AdminNotified = false
	}
	return out, nil
}

// Get returns the tenant with the given code.
func (s *Service) Get(ctx context.Context, code string) (Tenant, error) {
	code, err := NormalizeCode("code", code)
	if err != nil {
		return Tenant{}, errs.NotFoundf("tenant_not_found", "no tenant with this code")
	}
	t, err := s.Store.Get(ctx, code)
	if err != nil {
		return Tenant{}, err
	}
	t.LoginURL = s.loginURL(t.Code)
	return t, nil
}

func (s *Service) loginURL(code string) string {
	return strings.ReplaceAll(s.LoginURL, "{tenant}", code)
}

// Code limits.
const (
	MinCodeLen = 3
	MaxCodeLen = 32
)

// reserved codes would shadow the platform's own hosts in login addresses.
var reserved = map[string]bool{"www": true, "api": true, "app": true, "admin": true, "platform": true, "static": true, "mail": true}

// NormalizeCode checks a tenant code: 3–32 of a-z, 0-9 and -, starting and
// ending with a letter or digit (it becomes a DNS label in the login
// address).
func NormalizeCode(field, code string) (string, error) {
	// Where the code names the tenant of a login or an SMS request, the
	// error says "tenant", so it cannot be taken for a bad SMS code.
	bad := "invalid_code"
	if field == "tenant" {
		bad = "invalid_tenant"
	}
	c := strings.TrimSpace(code)
	if len(c) < MinCodeLen || len(c) > MaxCodeLen {
		return "", errs.Invalidf(field, bad, "%s must be a tenant code of %d to %d characters", field, MinCodeLen, MaxCodeLen)
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", errs.Invalidf(field, bad, "%s may hold only lower-case letters a-z, digits and -", field)
		}
	}
	if c[0] == '-' || c[len(c)-1] == '-' {
		return "", errs.Invalidf(field, bad, "%s must start and end with a letter or digit", field)
	}
	if reserved[c] {
		return "", errs.Invalidf(field, bad, "%s %q is reserved", field, c)
	}
	return c, nil
}

// MaxNameRunes bounds a tenant's name.
const MaxNameRunes = 100

func normalizeTenantName(field, name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", errs.Invalidf(field, "invalid_name", "%s is required", field)
	}
	if utf8.RuneCountInString(n) > MaxNameRunes {
		return "", errs.Invalidf(field, "invalid_name", "%s must be at most %d characters", field, MaxNameRunes)
	}
	if err := text.Line(field, n); err != nil {
		return "", err
	}
	return n, nil
}
