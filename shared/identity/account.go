package identity

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
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
	m, cred, err := s.memberAndCred(ctx, p.TenantID, p.MemberID)
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
	m, cred, err := s.memberAndCred(ctx, p.TenantID, p.MemberID)
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
	k := credKey(p.TenantID, m.ID)
	next.PK, next.SK = stringAttr(k, "pk"), stringAttr(k, "sk")
	cond, vals := aws.String("attribute_not_exists(pk)"), map[string]types.AttributeValue(nil)
	if cred != nil {
		next.Version = cred.Version + 1
		cond, vals = aws.String("version = :v"), map[string]types.AttributeValue{":v": num(int64(cred.Version))}
	}
	item, err := attributevalue.MarshalMap(next)
	if err != nil {
		return errs.Wrap(err, "encode credential")
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.Table), Item: item, ConditionExpression: cond, ExpressionAttributeValues: vals}},
		{Update: &types.Update{
			TableName: aws.String(s.Table), Key: auth.SessionKey(p.TenantID, p.SessionID),
			UpdateExpression:          aws.String("SET mustSetPassword = :f"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}},
		}},
	}})
	if dynamo.FailedCondition(err, 0) && s.credWritten(ctx, k, next.Hash) {
		err = nil // the SDK retried a write that had succeeded
	}
	if dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err) {
		return errs.E(errs.Conflict, "password_changed", "the password was changed at the same time; try again")
	}
	if dynamo.FailedCondition(err, 1) {
		return errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	if err != nil {
		return errs.Wrap(err, "set password")
	}
	if !mustSet {
		if err := s.revokeMemberSessions(ctx, p.TenantID, m.ID, p.SessionID, now); err != nil {
			return err
		}
	}
	slog.InfoContext(ctx, "password set", "tenant", p.TenantID, "member", m.ID, "first", mustSet)
	return nil
}

// credWritten reports whether the credential holds hash (salted, so only
// the write that made it can have stored it).
func (s *Service) credWritten(ctx context.Context, k map[string]types.AttributeValue, hash string) bool {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: k, ConsistentRead: aws.Bool(true)})
	return err == nil && stringAttr(out.Item, "hash") == hash
}

// revokeMemberSessions ends every live session of a member but except.
func (s *Service) revokeMemberSessions(ctx context.Context, tenantID, memberID, except string, now time.Time) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionsOf(tenantID, memberID))},
	}
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return errs.Wrap(err, "list member sessions")
		}
		for _, item := range out.Items {
			id := stringAttr(item, "id")
			if _, revoked := item["revokedAt"]; revoked || id == except || stringAttr(item, "tenantId") != tenantID {
				continue
			}
			if err := s.revoke(ctx, tenantID, id, now); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
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
	adminK, targetK := s.Directory.Key(p.TenantID, p.MemberID), s.Directory.Key(p.TenantID, memberID)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Directory.Table: {adminK, targetK}})
	if err != nil {
		return ResetResult{}, err
	}
	titem := got.find(targetK)
	if memberID == "" || titem == nil {
		return ResetResult{}, errs.NotFoundf("member_not_found", "no such member")
	}
	aitem := got.find(adminK)
	if aitem == nil {
		return ResetResult{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	admin, err := s.Directory.Member(aitem)
	if err != nil {
		return ResetResult{}, errs.Wrap(err, "open admin")
	}
	target, err := s.Directory.Member(titem)
	if err != nil {
		return ResetResult{}, errs.Wrap(err, "open member")
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
	k := credKey(p.TenantID, target.ID)
	cred := credRecord{PK: stringAttr(k, "pk"), SK: stringAttr(k, "sk"), Type: "credential", MemberID: target.ID,
		Hash: s.argon2().HashPassword(otp), MustChange: true, ExpiresAt: expires.UnixMilli(), UpdatedAt: now, Version: int(now.UnixMilli())}
	item, err := attributevalue.MarshalMap(cred)
	if err != nil {
		return ResetResult{}, errs.Wrap(err, "encode credential")
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.Table), Item: item}},
		{Delete: &types.Delete{TableName: aws.String(s.Table), Key: s.lockKey(p.TenantID, target.Account)}},
	}})
	if err != nil {
		return ResetResult{}, errs.Wrap(err, "reset password")
	}
	keep := ""
	if target.ID == p.MemberID {
		keep = p.SessionID // an admin resetting their own password keeps this session
	}
	if err := s.revokeMemberSessions(ctx, p.TenantID, target.ID, keep, now); err != nil {
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
