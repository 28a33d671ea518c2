package directory

import (
	"context"
	"log/slog"
	mathrand "math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/ids"
	"workbench/shared/sms"
)

// CodeVerifier checks (and consumes) an SMS verification code sent for a
// purpose; Identity implements it. A wrong or expired code is its error.
// undo gives the code back, for a request that fails after using it, so
// that its retry can use the code again.
type CodeVerifier interface {
	Verify(ctx context.Context, tenantID, mobile, purpose, code string) (undo func(context.Context), err error)
}

// TenantFinder resolves a tenant code to its id (for self-registration,
// which has no token to say which tenant it is).
type TenantFinder interface {
	TenantID(ctx context.Context, code string) (string, error)
}

// Service is the directory: members, departments, custom fields and
// invitations of every tenant, each call scoped by a tenant id.
type Service struct {
	// Store keeps the directory; the admins' changes it writes carry
	// their audit entries.
	Store Store
	SMS   sms.Sender
	// LoginURL is the login address template; "{tenant}" is the tenant code.
	LoginURL string
	// InviteURL is the invitation address template; "{tenant}" and "{code}".
	InviteURL string
	Codes     CodeVerifier // nil: self-registration is unavailable
	Tenants   TenantFinder
	Now       func() time.Time
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// Limits of other member attributes.
const (
	MaxPositionRunes     = 64
	MaxEmployeeNoLen     = 32
	MaxMemberDepartments = 8
)

// MemberInput is a new member as an admin enters it.
type MemberInput struct {
	Name          string         `json:"name"`
	Mobile        string         `json:"mobile"`
	Account       string         `json:"account"`
	Email         string         `json:"email"`
	DepartmentIDs []string       `json:"departmentIds"`
	Position      string         `json:"position"`
	EmployeeNo    string         `json:"employeeNo"`
	Role          string         `json:"role"`
	Fields        map[string]any `json:"fields"`
}

// MemberPatch changes some of a member's attributes; nil leaves one as it
// is. Fields merge: a code set to null is removed.
type MemberPatch struct {
	Name          *string        `json:"name"`
	Mobile        *string        `json:"mobile"`
	Account       *string        `json:"account"`
	Email         *string        `json:"email"`
	DepartmentIDs *[]string      `json:"departmentIds"`
	Position      *string        `json:"position"`
	EmployeeNo    *string        `json:"employeeNo"`
	Role          *string        `json:"role"`
	Fields        map[string]any `json:"fields"`
	Enabled       *bool          `json:"enabled"`
}

// NormalizePosition checks a position: at most 64 printable characters.
func NormalizePosition(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if utf8.RuneCountInString(v) > MaxPositionRunes || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", errs.Invalidf(field, "invalid_position", "%s must be at most %d printable characters", field, MaxPositionRunes)
	}
	return v, nil
}

// NormalizeEmployeeNo checks an employee number: at most 32 letters,
// digits, - and _.
func NormalizeEmployeeNo(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > MaxEmployeeNoLen || strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return "", errs.Invalidf(field, "invalid_employee_no", "%s must be at most %d letters, digits, - or _", field, MaxEmployeeNoLen)
	}
	return v, nil
}

// NormalizeDepartmentIDs checks a member's department list: no blanks, no
// repeats, at most 8. Whether they exist is checked by the write.
func NormalizeDepartmentIDs(field string, list []string) ([]string, error) {
	out := []string{}
	for _, d := range list {
		d = strings.TrimSpace(d)
		if d == "" || len(d) > 64 {
			return nil, errs.Invalidf(field, "department_not_found", "%s holds an empty or unknown department id", field)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if len(out) > MaxMemberDepartments {
		return nil, errs.Invalidf(field, "too_many_departments", "a member belongs to at most %d departments", MaxMemberDepartments)
	}
	return out, nil
}

// normalize checks every attribute of m in place.
func normalize(m *Member) error {
	var err error
	if m.Name, err = NormalizeName("name", m.Name); err != nil {
		return err
	}
	if m.Mobile, err = NormalizeMobile("mobile", m.Mobile); err != nil {
		return err
	}
	if m.Account != "" {
		if m.Account, err = NormalizeAccount("account", m.Account); err != nil {
			return err
		}
	}
	if m.Email, err = NormalizeEmail("email", m.Email); err != nil {
		return err
	}
	if m.Role, err = NormalizeRole("role", m.Role); err != nil {
		return err
	}
	if m.Position, err = NormalizePosition("position", m.Position); err != nil {
		return err
	}
	if m.EmployeeNo, err = NormalizeEmployeeNo("employeeNo", m.EmployeeNo); err != nil {
		return err
	}
	m.DepartmentIDs, err = NormalizeDepartmentIDs("departmentIds", m.DepartmentIDs)
	return err
}

var (
	errMobileTaken  = &errs.Error{Kind: errs.Conflict, Code: "mobile_taken", Field: "mobile", Message: "another member of the tenant has this mobile"}
	errAccountTaken = &errs.Error{Kind: errs.Conflict, Code: "account_taken", Field: "account", Message: "another member of the tenant has this account"}
	errLastAdmin    = errs.E(errs.Conflict, "last_admin", "the tenant's last enabled admin cannot be demoted, disabled or deleted")
	errNoDepartment = errs.Invalidf("departmentIds", "department_not_found", "departmentIds names a department that does not exist")
)

// ErrAccountTaken is what InsertMember answers when the member's account
// is held. A Store wrapping DynamoStore may answer it without writing, for
// an account it knows taken: AddMember then tries its next candidate.
var ErrAccountTaken = errAccountTaken

// CreateMember adds a member entered by an admin and sends them an SMS with
// the tenant's login address and their account. It takes one read (custom
// field definitions, and free accounts when it generates one) and one
// transaction.
func (s *Service) CreateMember(ctx context.Context, tenantID, tenantCode string, in MemberInput) (Member, error) {
	m, err := s.AddMember(ctx, tenantID, in)
	if err != nil {
		return Member{}, err
	}
	s.Welcome(ctx, tenantCode, m)
	return m, nil
}

// Extra is an update of another table's item that a caller adds to a
// member write's transaction (a bulk import moves its cursor), so that
// both are written or neither. It is plain values: the Store turns it
// into its transaction item. Err is what its failed condition means.
type Extra struct {
	Update dynamo.Update
	Err    error
}

// AddMember is CreateMember without the welcome SMS, with extra items
// written in the member's transaction: a bulk import adds its cursor, so
// that a row and its progress are written together or not at all.
func (s *Service) AddMember(ctx context.Context, tenantID string, in MemberInput, extra ...Extra) (Member, error) {
	now := s.now()
	m := Member{
		ID: ids.New(now), TenantID: tenantID, Name: in.Name, Mobile: in.Mobile, Account: in.Account,
		Email: in.Email, Role: in.Role, Enabled: true, DepartmentIDs: in.DepartmentIDs,
		Position: in.Position, EmployeeNo: in.EmployeeNo, CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	if err := normalize(&m); err != nil {
		return Member{}, err
	}
	err := retry(ctx, func() error {
		defs, fieldsVersion, free, err := s.prepare(ctx, tenantID, m)
		if err != nil {
			return err
		}
		if m.Fields, err = NormalizeFieldValues(in.Fields, defs); err != nil {
			return err
		}
		return s.insert(&m, free, func(m Member) error {
			// Each attempt appends to the audit chain as it is now: an
			// attempt that lost its account also lost its place in it.
			change := memberChange(Member{}, m)
			return s.Store.InsertMember(ctx, m, fieldsVersion, extra, &change)
		})
	})
	if err != nil {
		return Member{}, err
	}
	slog.InfoContext(ctx, "member created", "tenant", tenantID, "member", m.ID)
	return m, nil
}

// prepare reads, in one round trip, the custom field definitions and, when
// m has no account yet, which accounts generated from its name are free.
func (s *Service) prepare(ctx context.Context, tenantID string, m Member) (defs []Field, version int, free []string, err error) {
	var candidates []string
	if m.Account == "" {
		candidates = accountCandidates(AccountFromName(m.Name))
	}
	return s.Store.PrepareMember(ctx, tenantID, candidates)
}

// accountCandidates are the accounts tried for a generated one: the base,
// then base2 … base10, each cut to fit 20 characters.
func accountCandidates(base string) []string {
	out := []string{base}
	for i := 2; i <= 10; i++ {
		suffix := strconv.Itoa(i)
		b := base
		if len(b)+len(suffix) > MaxAccountRunes {
			b = b[:MaxAccountRunes-len(suffix)]
		}
		out = append(out, b+suffix)
	}
	return out
}

// insert writes a new member with write. With no account given, it takes
// the first of free; when every candidate is gone it falls back to a
// random suffix.
func (s *Service) insert(m *Member, free []string, write func(Member) error) error {
	generated := m.Account == ""
	for attempt := 0; ; attempt++ {
		if generated {
			switch {
			case attempt < len(free):
				m.Account = free[attempt]
			default:
				base := AccountFromName(m.Name)
				suffix := strconv.Itoa(1000 + mathrand.IntN(9000))
				if len(base)+len(suffix) > MaxAccountRunes {
					base = base[:MaxAccountRunes-len(suffix)]
				}
				m.Account = base + suffix
			}
		}
		err := write(*m)
		if err == errAccountTaken && generated && attempt < len(free)+3 {
			continue
		}
		return err
	}
}

// Welcome sends a member added by an admin their account and the tenant's
// login address. The member exists whatever happens to the SMS, so a
// failure is logged only.
func (s *Service) Welcome(ctx context.Context, tenantCode string, m Member) {
	s.welcome(ctx, tenantCode, m, "您已被添加为企业成员")
}

// welcome sends a member their account and the tenant's login address.
func (s *Service) welcome(ctx context.Context, tenantCode string, m Member, what string) {
	login := strings.ReplaceAll(s.LoginURL, "{tenant}", tenantCode)
	text := sms.Brand + m.Name + "，" + what + "，账号 " + m.Account + "。请打开 " + login + " 使用手机短信验证码登录，登录后设置密码。"
	if err := s.SMS.Send(ctx, m.Mobile, text); err != nil {
		slog.ErrorContext(ctx, "member welcome SMS failed", "tenant", m.TenantID, "member", m.ID, "error", err)
	}
}

// Member returns one member of the tenant.
func (s *Service) Member(ctx context.Context, tenantID, id string) (Member, error) {
	m, _, err := s.load(ctx, tenantID, id)
	return m, err
}

// load reads a member with the tokens its token items carry.
func (s *Service) load(ctx context.Context, tenantID, id string) (Member, []string, error) {
	if id == "" || len(id) > 64 {
		return Member{}, nil, errMemberNotFound
	}
	return s.Store.Member(ctx, tenantID, id)
}

var errMemberNotFound = errs.NotFoundf("member_not_found", "no member with this id in the tenant")

// UpdateMember changes a member under the same rules as CreateMember;
// changing the mobile or account moves its reservation in the same
// transaction.
func (s *Service) UpdateMember(ctx context.Context, tenantID, id string, p MemberPatch) (Member, error) {
	m, _, err := s.change(ctx, tenantID, id, p, false, nil)
	return m, err
}

// ChangeMember is UpdateMember with extra items written in the member's
// transaction. A patch that changes nothing writes nothing (no version,
// no event): changed is false and the extra items are not written.
func (s *Service) ChangeMember(ctx context.Context, tenantID, id string, p MemberPatch, extra ...Extra) (m Member, changed bool, err error) {
	return s.change(ctx, tenantID, id, p, true, extra)
}

func (s *Service) change(ctx context.Context, tenantID, id string, p MemberPatch, skipSame bool, extra []Extra) (m Member, changed bool, err error) {
	var out Member
	err = retry(ctx, func() error {
		old, oldTokens, err := s.load(ctx, tenantID, id)
		if err != nil {
			return err
		}
		m := old
		m.DepartmentIDs = slices.Clone(old.DepartmentIDs)
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&m.Name, p.Name)
		set(&m.Mobile, p.Mobile)
		set(&m.Account, p.Account)
		set(&m.Email, p.Email)
		set(&m.Position, p.Position)
		set(&m.EmployeeNo, p.EmployeeNo)
		set(&m.Role, p.Role)
		if p.Account != nil && strings.TrimSpace(*p.Account) == "" {
			return errs.Invalidf("account", "invalid_account", "account cannot be empty")
		}
		if p.Role != nil && strings.TrimSpace(*p.Role) == "" {
			return errs.Invalidf("role", "invalid_role", "role must be admin or member")
		}
		if p.DepartmentIDs != nil {
			m.DepartmentIDs = *p.DepartmentIDs
		}
		if p.Enabled != nil {
			m.Enabled = *p.Enabled
		}
		if err := normalize(&m); err != nil {
			return err
		}
		fieldsVersion := -1
		if p.Fields != nil {
			defs, version, err := s.fields(ctx, tenantID)
			if err != nil {
				return err
			}
			merged := map[string]any{}
			for k, v := range old.Fields {
				merged[k] = v
			}
			for k, v := range p.Fields {
				merged[k] = v
			}
			if m.Fields, err = NormalizeFieldValues(merged, defs); err != nil {
				return err
			}
			fieldsVersion = version
		}
		if skipSame && same(old, m) {
			out, changed = old, false
			return nil
		}
		m.UpdatedAt, m.Version = s.now(), old.Version+1
		if old.Enabled && !m.Enabled {
			// Disabling ends every session the member has: enabling them
			// again later does not bring old tokens back to life.
			at := m.UpdatedAt
			m.SessionsNotBefore = &at
		}
		out, changed = m, true
		return s.replace(ctx, old, oldTokens, m, fieldsVersion, extra)
	})
	return out, changed, err
}

// same reports whether m holds what old holds, so writing it would change
// nothing.
func same(old, m Member) bool {
	return old.Name == m.Name && old.Mobile == m.Mobile && old.Account == m.Account && old.Email == m.Email &&
		old.Role == m.Role && old.Enabled == m.Enabled && old.Position == m.Position && old.EmployeeNo == m.EmployeeNo &&
		slices.Equal(old.DepartmentIDs, m.DepartmentIDs) && reflect.DeepEqual(nonNilMap(old.Fields), nonNilMap(m.Fields))
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// SetEnabled enables or disables a member; a disabled member's next request
// is refused (the auth middleware reads the member item), and their sessions
// end for good.
func (s *Service) SetEnabled(ctx context.Context, tenantID, id string, enabled bool) (Member, error) {
	return s.UpdateMember(ctx, tenantID, id, MemberPatch{Enabled: &enabled})
}

// replace writes the change from old to m in one transaction.
func (s *Service) replace(ctx context.Context, old Member, oldTokens []string, m Member, fieldsVersion int, extra []Extra) error {
	if err := s.Store.ReplaceMember(ctx, old, oldTokens, m, fieldsVersion, extra, memberChange(old, m)); err != nil {
		return err
	}
	slog.InfoContext(ctx, "member updated", "tenant", m.TenantID, "member", m.ID)
	return nil
}

// DeleteMember removes a member from the tenant with everything that points
// at it: reservations, memberships, search tokens.
func (s *Service) DeleteMember(ctx context.Context, tenantID, id string) error {
	return retry(ctx, func() error {
		old, oldTokens, err := s.load(ctx, tenantID, id)
		if err != nil {
			return err
		}
		now := s.now()
		ev := Event{ID: ids.New(now), TenantID: tenantID, Type: EventMemberDeleted, MemberID: id, DepartmentIDs: old.DepartmentIDs, At: now}
		if err := s.Store.DeleteMember(ctx, old, oldTokens, ev, audit.Change{Action: audit.MemberDelete, Target: "member/" + id}); err != nil {
			return err
		}
		slog.InfoContext(ctx, "member deleted", "tenant", tenantID, "member", id)
		return nil
	})
}

// MaxPage is the largest page of a member list.
const MaxPage = 100

// ListMembers returns a page of the tenant's members, in the order they
// were added, or of one department's members.
func (s *Service) ListMembers(ctx context.Context, tenantID, departmentID, cursor string, limit int) ([]Member, string, error) {
	return s.Store.ListMembers(ctx, tenantID, departmentID, cursor, limit)
}

// Members returns the tenant's members with the given ids, in that order;
// ids of no member are left out. Partner sync and announcements read
// members through it.
func (s *Service) Members(ctx context.Context, tenantID string, ids []string) ([]Member, error) {
	return s.Store.Members(ctx, tenantID, ids)
}
