package identity

import (
	"context"
	"log/slog"
	"time"

	"workbench/shared/audit"
	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/errs"
)

// TenantRef names a member's tenant.
type TenantRef struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Name string `json:"name"`
}

// Me is the caller as GET /v1/me shows it.
type Me struct {
	directory.Member
	Tenant          TenantRef `json:"tenant"`
	MustSetPassword bool      `json:"mustSetPassword"`
}

// Me returns the caller, with tenant and whether a password must be set.
func (s *Service) Me(ctx context.Context, p auth.Principal) (Me, error) {
	t, err := s.Tenants.Get(ctx, p.TenantCode)
	if err != nil && errs.KindOf(err) != errs.NotFound {
		return Me{}, err // a failing read says nothing about the session
	}
	if err != nil || t.ID != p.TenantID {
		return Me{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	m, cred, err := s.Store.memberAndCred(ctx, p.TenantID, p.MemberID)
	if err != nil {
		return Me{}, err
	}
	if m == nil {
		return Me{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	return Me{Member: *m, Tenant: TenantRef{ID: t.ID, Code: t.Code, Name: t.Name}, MustSetPassword: cred == nil || cred.MustChange}, nil
}

// SetPasswordInput is PUT /v1/me/password.
type SetPasswordInput struct {
	Password        string `json:"password"`
	CurrentPassword string `json:"currentPassword,omitempty"`
}

// SetPassword sets the caller's password. While the member must set one
// (none yet, or a one-time password from an admin reset) the current
// password is not asked for: the fresh session proves who it is. A change
// of a real password needs the current one and ends the member's other
// sessions.
func (s *Service) SetPassword(ctx context.Context, p auth.Principal, in SetPasswordInput) error {
	if len(in.Password) > maxPasswordBytes {
		return errs.Invalidf("password", "password_too_long", "password must be at most %d characters", MaxPasswordRunes)
	}
	m, cred, err := s.Store.memberAndCred(ctx, p.TenantID, p.MemberID)
	if err != nil {
		return err
	}
	if m == nil {
		return errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	if err := CheckPasswordPolicy("password", in.Password, m.Account, m.Mobile); err != nil {
		return err
	}
	mustSet := cred == nil || cred.MustChange
	if !mustSet {
		if in.CurrentPassword == "" {
			return errs.Invalidf("currentPassword", "current_password_required", "currentPassword is required to change the password")
		}
		if len(in.CurrentPassword) > maxPasswordBytes || !CheckPassword(cred.Hash, in.CurrentPassword) {
			return &errs.Error{Kind: errs.Forbidden, Code: "wrong_password", Field: "currentPassword", Message: "currentPassword is not the current password"}
		}
	} else if cred != nil && CheckPassword(cred.Hash, in.Password) {
		return errs.Invalidf("password", "password_reused", "choose a password other than the one-time password")
	}
	now := s.Now().UTC()
	next := credRecord{Type: "credential", MemberID: m.ID, Hash: s.argon2().HashPassword(in.Password), UpdatedAt: now, Version: 1}
	if cred != nil {
		next.Version = cred.Version + 1
	}
	if err := s.Store.setPassword(ctx, p.TenantID, p.SessionID, next, cred); err != nil {
		return err
	}
	if !mustSet {
		if err := s.Store.revokeMemberSessions(ctx, p.TenantID, m.ID, p.SessionID, now); err != nil {
			return err
		}
	}
	slog.InfoContext(ctx, "password set", "tenant", p.TenantID, "member", m.ID, "first", mustSet)
	return nil
}

// ResetInput is POST /v1/admin/members/{id}/password-reset.
type ResetInput struct {
	Code string `json:"code"`
}

// ResetResult tells the admin the reset happened, never the password.
type ResetResult struct {
	MemberID  string    `json:"memberId"`
	ExpiresAt time.Time `json:"expiresAt"` // when the one-time password stops working
}

// ResetPassword is an admin's reset of a member's password, confirmed with
// an admin-confirm code sent to the admin's own mobile. A random one-time
// password goes to the member by SMS (the admin never sees it); it works
// for OneTimeTTL and must be replaced at the next login. The member's
// sessions end and a lockout is lifted.
func (s *Service) ResetPassword(ctx context.Context, p auth.Principal, memberID string, in ResetInput) (_ ResetResult, err error) {
	if err := checkCodeFormat("code", in.Code); err != nil {
		return ResetResult{}, err
	}
	if memberID == "" {
		return ResetResult{}, errs.NotFoundf("member_not_found", "no such member")
	}
	ms, err := s.Store.members(ctx, p.TenantID, p.MemberID, memberID)
	if err != nil {
		return ResetResult{}, err
	}
	admin, target := ms[0], ms[1]
	if target == nil {
		return ResetResult{}, errs.NotFoundf("member_not_found", "no such member")
	}
	if admin == nil {
		return ResetResult{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	undo, err := s.Codes.Verify(ctx, p.TenantID, admin.Mobile, PurposeAdminConfirm, in.Code)
	if err != nil {
		return ResetResult{}, err
	}
	defer func() {
		// The new password never reached the member: a retry with the
		// same code resets it again and sends it.
		if err != nil {
			undo(ctx)
		}
	}()
	t, err := s.Tenants.Get(ctx, p.TenantCode)
	if err != nil {
		return ResetResult{}, err
	}
	now := s.Now().UTC()
	otp := newOneTimePassword()
	expires := now.Add(OneTimeTTL)
	cred := credRecord{Type: "credential", MemberID: target.ID, Hash: s.argon2().HashPassword(otp),
		MustChange: true, ExpiresAt: expires.UnixMilli(), UpdatedAt: now, Version: int(now.UnixMilli())}
	change := audit.Change{Action: audit.MemberPasswordReset, Target: "member/" + target.ID, Fields: []string{"password"}}
	if err := s.Store.resetPassword(ctx, p.TenantID, target, cred, change); err != nil {
		return ResetResult{}, err
	}
	keep := ""
	if target.ID == p.MemberID {
		keep = p.SessionID // an admin resetting their own password keeps this session
	}
	if err := s.Store.revokeMemberSessions(ctx, p.TenantID, target.ID, keep, now); err != nil {
		return ResetResult{}, err
	}
	text := "【" + t.Name + "】管理员已重置您的登录密码。账号 " + target.Account + "，临时密码 " + otp +
		"，24 小时内有效，登录后须立即设置新密码。"
	if err := s.SMS.Send(ctx, target.Mobile, text); err != nil {
		slog.ErrorContext(ctx, "reset password SMS failed", "tenant", p.TenantID, "member", target.ID, "error", err)
		return ResetResult{}, errs.E(errs.Unavailable, "sms_not_sent", "the new password could not be sent; ask for a new code and try again")
	}
	slog.InfoContext(ctx, "password reset by admin", "tenant", p.TenantID, "member", target.ID, "admin", p.MemberID)
	return ResetResult{MemberID: target.ID, ExpiresAt: expires}, nil
}
