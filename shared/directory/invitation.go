package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"workbench/shared/audit"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Invitation lets people register themselves into a tenant.
type Invitation struct {
	Code      string    `json:"code" dynamodbav:"code"`
	URL       string    `json:"url" dynamodbav:"-"`
	ExpiresAt time.Time `json:"expiresAt" dynamodbav:"expiresAt"`
	MaxUses   int       `json:"maxUses,omitempty" dynamodbav:"maxUses,omitempty"` // 0: no limit
	Uses      int       `json:"uses" dynamodbav:"uses"`
	CreatedBy string    `json:"createdBy" dynamodbav:"createdBy"`
	CreatedAt time.Time `json:"createdAt" dynamodbav:"createdAt"`
}

// Invitation limits.
const (
	DefaultInvitationHours = 72
	MaxInvitationHours     = 24 * 30
	MaxInvitationUses      = 10000
)

// InvitationInput is what an admin asks for.
type InvitationInput struct {
	ExpiresInHours *int `json:"expiresInHours"`
	MaxUses        *int `json:"maxUses"`
}

// The code alphabet leaves out letters and digits that read alike.
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func newInvitationCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// CreateInvitation makes an invitation code and address.
func (s *Service) CreateInvitation(ctx context.Context, tenantID, tenantCode, by string, in InvitationInput) (Invitation, error) {
	hours := DefaultInvitationHours
	if in.ExpiresInHours != nil {
		hours = *in.ExpiresInHours
	}
	if hours < 1 || hours > MaxInvitationHours {
		return Invitation{}, errs.Invalidf("expiresInHours", "invalid_expiry", "expiresInHours must be 1–%d", MaxInvitationHours)
	}
	uses := 0
	if in.MaxUses != nil {
		uses = *in.MaxUses
		if uses < 1 || uses > MaxInvitationUses {
			return Invitation{}, errs.Invalidf("maxUses", "invalid_max_uses", "maxUses must be 1–%d (leave it out for no limit)", MaxInvitationUses)
		}
	}
	now := s.now()
	inv := Invitation{Code: newInvitationCode(), ExpiresAt: now.Add(time.Duration(hours) * time.Hour), MaxUses: uses, CreatedBy: by, CreatedAt: now}
	fields := []string{"expiresInHours"}
	if uses > 0 {
		fields = append(fields, "maxUses")
	}
	err := retry(ctx, func() error {
		return s.Store.CreateInvitation(ctx, tenantID, inv, audit.Change{Action: audit.InvitationCreate, Target: invitationTarget(inv.Code), Fields: fields})
	})
	if err != nil {
		return Invitation{}, err
	}
	inv.URL = s.inviteURL(tenantCode, inv.Code)
	return inv, nil
}

// invitationTarget names an invitation in the audit log without its code,
// which lets anyone who reads it register.
func invitationTarget(code string) string {
	sum := sha256.Sum256([]byte(code))
	return "invitation/" + hex.EncodeToString(sum[:8])
}

func (s *Service) inviteURL(tenantCode, code string) string {
	return strings.NewReplacer("{tenant}", tenantCode, "{code}", code).Replace(s.InviteURL)
}

// RegisterInput is a self-registration.
type RegisterInput struct {
	Tenant     string `json:"tenant"`
	Invitation string `json:"invitation"`
	Mobile     string `json:"mobile"`
	Code       string `json:"code"`
	Name       string `json:"name"`
}

// Results of a registration.
const (
	Joined        = "joined"
	AlreadyMember = "already_member"
)

// Registered is the outcome of Register.
type Registered struct {
	Result string `json:"result"`
	Member Member `json:"member"`
}

var (
	errInvitationNotFound = errs.NotFoundf("invitation_not_found", "no such invitation")
	errInvitationExpired  = errs.E(errs.Gone, "invitation_expired", "the invitation has expired")
	errInvitationUsedUp   = errs.E(errs.Gone, "invitation_used_up", "the invitation has been used as often as it allows")
)

// Register lets a person join a tenant with an invitation and an SMS code
// (purpose "register") for their mobile. A mobile already in the tenant is
// "already_member" (and uses nothing of the invitation); otherwise the
// member is created, enabled, with a generated account, and gets an SMS
// with the account and the login address.
func (s *Service) Register(ctx context.Context, in RegisterInput) (_ Registered, err error) {
	tenantCode := strings.ToLower(strings.TrimSpace(in.Tenant))
	if tenantCode == "" {
		return Registered{}, errs.Invalidf("tenant", "invalid_tenant", "tenant is required")
	}
	code := strings.ToUpper(strings.TrimSpace(in.Invitation))
	if code == "" || len(code) > 32 {
		return Registered{}, errs.Invalidf("invitation", "invalid_invitation", "invitation is required")
	}
	mobile, err := NormalizeMobile("mobile", in.Mobile)
	if err != nil {
		return Registered{}, err
	}
	name, err := NormalizeName("name", in.Name)
	if err != nil {
		return Registered{}, err
	}
	if strings.TrimSpace(in.Code) == "" {
		return Registered{}, errs.Invalidf("code", "invalid_code", "code (the SMS verification code) is required")
	}
	tenantID, err := s.Tenants.TenantID(ctx, tenantCode)
	if err != nil {
		return Registered{}, err
	}
	rec, ok, err := s.Store.Invitation(ctx, tenantID, code)
	if err != nil {
		return Registered{}, err
	}
	if !ok {
		return Registered{}, errInvitationNotFound
	}
	now := s.now()
	if !now.Before(rec.ExpiresAt) {
		return Registered{}, errInvitationExpired
	}
	if s.Codes == nil {
		return Registered{}, errs.E(errs.Unavailable, "register_unavailable", "self-registration is not available")
	}
	undo, err := s.Codes.Verify(ctx, tenantID, mobile, "register", in.Code)
	if err != nil {
		return Registered{}, err
	}
	defer func() {
		if err != nil {
			undo(ctx) // nothing was registered: the retry may use the code
		}
	}()
	if m, ok, err := s.memberByMobile(ctx, tenantID, mobile); err != nil || ok {
		return Registered{Result: AlreadyMember, Member: m}, err
	}
	if rec.MaxUses > 0 && rec.Uses >= rec.MaxUses {
		return Registered{}, errInvitationUsedUp
	}
	m := Member{
		ID: ids.New(now), TenantID: tenantID, Name: name, Mobile: mobile, Role: RoleMember, Enabled: true,
		DepartmentIDs: []string{}, Fields: map[string]any{}, CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	_, _, free, err := s.prepare(ctx, tenantID, m)
	if err != nil {
		return Registered{}, err
	}
	err = s.insert(&m, free, func(m Member) error {
		return s.Store.RegisterMember(ctx, m, code)
	})
	if errs.Is(err, "mobile_taken") {
		// Registered at the same time by another request.
		m, _, err := s.memberByMobile(ctx, tenantID, mobile)
		return Registered{Result: AlreadyMember, Member: m}, err
	}
	if err != nil {
		return Registered{}, err
	}
	slog.InfoContext(ctx, "member registered", "tenant", tenantID, "member", m.ID)
	s.welcome(ctx, tenantCode, m, "您已加入企业，账号已开通")
	return Registered{Result: Joined, Member: m}, nil
}

// memberByMobile finds a member by its mobile's reservation.
func (s *Service) memberByMobile(ctx context.Context, tenantID, mobile string) (Member, bool, error) {
	held, err := s.Store.Holders(ctx, tenantID, UniqueMobile, []string{mobile})
	if err != nil {
		return Member{}, false, err
	}
	id, ok := held[mobile]
	if !ok {
		return Member{}, false, nil
	}
	m, err := s.Member(ctx, tenantID, id)
	return m, err == nil, err
}
