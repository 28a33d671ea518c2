package directory

import (
	"context"
	"encoding/base64"
	"log/slog"
	mathrand "math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	// Store keeps departments and custom fields (nil: a DynamoStore of DB,
	// Codec and Audit); members, invitations and search still use DB.
	Store Store
	DB    DB
	Codec *Codec
	SMS   sms.Sender
	// LoginURL is the login address template; "{tenant}" is the tenant code.
	LoginURL string
	// InviteURL is the invitation address template; "{tenant}" and "{code}".
	InviteURL string
	Codes     CodeVerifier // nil: self-registration is unavailable
	Tenants   TenantFinder
	Now       func() time.Time
	// Audit records admins' changes in their transactions (nil: none).
	Audit *audit.Log
}

func (s *Service) table() *string { return aws.String(s.Codec.Table) }

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
	errMobileTaken  = errs.E(errs.Conflict, "mobile_taken", "another member of the tenant has this mobile")
	errAccountTaken = errs.E(errs.Conflict, "account_taken", "another member of the tenant has this account")
	errLastAdmin    = errs.E(errs.Conflict, "last_admin", "the tenant's last enabled admin cannot be demoted, disabled or deleted")
	errNoDepartment = errs.Invalidf("departmentIds", "department_not_found", "departmentIds names a department that does not exist")
)

func init() {
	errMobileTaken.Field = "mobile"
	errAccountTaken.Field = "account"
}

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

// Extra is an item a caller adds to a member write's transaction (a bulk
// import's cursor), with the error its failed condition means.
type Extra struct {
	Item types.TransactWriteItem
	Err  error
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
		return s.insert(ctx, &m, free, func(t *txn) error {
			t.add(errRetry, s.fieldsCheck(tenantID, fieldsVersion))
			for _, x := range extra {
				t.add(x.Err, x.Item)
			}
			// Each attempt appends to the chain as it is now: an attempt
			// that lost its account also lost its place in the chain.
			return s.audited(ctx, t, tenantID, memberChange(Member{}, m))
		})
	})
	if err != nil {
		return Member{}, err
	}
	slog.InfoContext(ctx, "member created", "tenant", tenantID, "member", m.ID)
	return m, nil
}

// prepare reads, in one BatchGetItem, the custom field definitions and,
// when m has no account yet, which accounts generated from its name are
// free.
func (s *Service) prepare(ctx context.Context, tenantID string, m Member) (defs []Field, version int, free []string, err error) {
	keys := []map[string]types.AttributeValue{key(tenantID, fieldsSK)}
	var candidates []string
	if m.Account == "" {
		candidates = accountCandidates(AccountFromName(m.Name))
		for _, a := range candidates {
			keys = append(keys, s.Codec.UniqueKey(tenantID, UniqueAccount, a))
		}
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, 0, nil, err
	}
	taken := map[string]bool{}
	for _, it := range items {
		switch sk := str(it["sk"]); sk {
		case fieldsSK:
			defs, version, err = decodeFields(it)
			if err != nil {
				return nil, 0, nil, err
			}
		default:
			taken[sk] = true
		}
	}
	for _, a := range candidates {
		if !taken[str(s.Codec.UniqueKey(tenantID, UniqueAccount, a)["sk"])] {
			free = append(free, a)
		}
	}
	return defs, version, free, nil
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

// insert writes a new member. With no account given, it takes the first of
// free; when every candidate is gone it falls back to a random suffix.
func (s *Service) insert(ctx context.Context, m *Member, free []string, extra func(*txn) error) error {
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
		items, err := s.Codec.CreateItems(*m, ids.New(m.CreatedAt))
		if err != nil {
			return errs.Wrap(err, "encode member")
		}
		t := &txn{}
		for i, it := range items {
			var why error
			switch {
			case i == CreateMobile:
				why = errMobileTaken
			case i == CreateAccount:
				why = errAccountTaken
			case it.Update != nil && strings.HasPrefix(str(it.Update.Key["sk"]), "DEPT#"):
				why = errNoDepartment
			}
			t.add(why, it)
		}
		if extra != nil {
			if err := extra(t); err != nil {
				return err
			}
		}
		err = t.run(ctx, s.DB)
		if err == errAccountTaken && generated && attempt < len(free)+3 {
			continue
		}
		return err
	}
}

// fieldsCheck keeps a member write from racing a change of the field
// definitions it was validated against.
func (s *Service) fieldsCheck(tenantID string, version int) types.TransactWriteItem {
	return s.Codec.versionCheck(key(tenantID, fieldsSK), "version", version)
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
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.table(), Key: s.Codec.Key(tenantID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Member{}, nil, errs.Wrap(err, "get member")
	}
	if out.Item == nil {
		return Member{}, nil, errMemberNotFound
	}
	m, err := s.Codec.Member(out.Item)
	if err != nil {
		return Member{}, nil, errs.Wrap(err, "decode member")
	}
	return m, storedTokens(out.Item), nil
}

var errMemberNotFound = errs.NotFoundf("member_not_found", "no member with this id in the tenant")

func storedTokens(item map[string]types.AttributeValue) []string {
	var rec struct {
		Tokens []string `dynamodbav:"tokens"`
	}
	_ = attributevalue.UnmarshalMap(item, &rec)
	return rec.Tokens
}

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

// replace writes the change from old to m in one transaction: the member
// (conditional on its version), moved reservations, department
// memberships, search tokens, the admin count and the event.
func (s *Service) replace(ctx context.Context, old Member, oldTokens []string, m Member, fieldsVersion int, extra []Extra) error {
	c := s.Codec
	item, err := c.Item(m)
	if err != nil {
		return errs.Wrap(err, "encode member")
	}
	t := &txn{}
	t.add(errRetry, types.TransactWriteItem{Put: &types.Put{
		TableName: s.table(), Item: item,
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": avn(old.Version)},
	}})
	if m.Mobile != old.Mobile {
		t.add(errRetry, c.release(m.TenantID, UniqueMobile, old.Mobile, m.ID))
		t.add(errMobileTaken, c.reserve(m.TenantID, UniqueMobile, m.Mobile, m.ID))
	}
	if m.Account != old.Account {
		t.add(errRetry, c.release(m.TenantID, UniqueAccount, old.Account, m.ID))
		t.add(errAccountTaken, c.reserve(m.TenantID, UniqueAccount, m.Account, m.ID))
	}
	switch was, is := countsAsAdmin(old), countsAsAdmin(m); {
	case was && !is:
		t.add(errLastAdmin, c.adminDelta(m.TenantID, m.ID, -1))
	case !was && is:
		t.add(nil, c.adminDelta(m.TenantID, m.ID, +1))
	}
	for _, d := range old.DepartmentIDs {
		if !slices.Contains(m.DepartmentIDs, d) {
			t.add(errRetry, c.leaveDepartment(m.TenantID, d, m.ID)...)
		}
	}
	for _, d := range m.DepartmentIDs {
		if !slices.Contains(old.DepartmentIDs, d) {
			t.add(errNoDepartment, c.joinDepartment(m.TenantID, d, m.ID)...)
		}
	}
	newTokens := c.tokens(m)
	for _, tok := range oldTokens {
		if !slices.ContainsFunc(newTokens, func(x token) bool { return x.token == tok }) {
			t.add(nil, types.TransactWriteItem{Delete: &types.Delete{TableName: s.table(), Key: key(m.TenantID, tokenPrefix(tok)+m.ID)}})
		}
	}
	for _, tok := range newTokens {
		if !slices.Contains(oldTokens, tok.token) {
			t.add(nil, types.TransactWriteItem{Put: &types.Put{TableName: s.table(), Item: c.tokenItem(m.TenantID, m.ID, tok)}})
		}
	}
	if fieldsVersion >= 0 {
		t.add(errRetry, s.fieldsCheck(m.TenantID, fieldsVersion))
	}
	depts := slices.Clone(old.DepartmentIDs)
	for _, d := range m.DepartmentIDs {
		if !slices.Contains(depts, d) {
			depts = append(depts, d)
		}
	}
	ev, err := c.eventItem(Event{ID: ids.New(m.UpdatedAt), TenantID: m.TenantID, Type: EventMemberUpdated, MemberID: m.ID, DepartmentIDs: depts, At: m.UpdatedAt})
	if err != nil {
		return errs.Wrap(err, "encode event")
	}
	t.add(nil, ev)
	for _, x := range extra {
		t.add(x.Err, x.Item)
	}
	if err := s.audited(ctx, t, m.TenantID, memberChange(old, m)); err != nil {
		return err
	}
	if err := t.run(ctx, s.DB); err != nil {
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
		c := s.Codec
		t := &txn{}
		t.add(errRetry, types.TransactWriteItem{Delete: &types.Delete{
			TableName: s.table(), Key: c.Key(tenantID, id),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": avn(old.Version)},
		}})
		t.add(errRetry, c.release(tenantID, UniqueMobile, old.Mobile, id), c.release(tenantID, UniqueAccount, old.Account, id))
		if countsAsAdmin(old) {
			t.add(errLastAdmin, c.adminDelta(tenantID, id, -1))
		}
		for _, d := range old.DepartmentIDs {
			t.add(errRetry, c.leaveDepartment(tenantID, d, id)...)
		}
		for _, tok := range oldTokens {
			t.add(nil, types.TransactWriteItem{Delete: &types.Delete{TableName: s.table(), Key: key(tenantID, tokenPrefix(tok)+id)}})
		}
		now := s.now()
		ev, err := c.eventItem(Event{ID: ids.New(now), TenantID: tenantID, Type: EventMemberDeleted, MemberID: id, DepartmentIDs: old.DepartmentIDs, At: now})
		if err != nil {
			return errs.Wrap(err, "encode event")
		}
		t.add(nil, ev)
		if err := s.audited(ctx, t, tenantID, audit.Change{Action: audit.MemberDelete, Target: "member/" + id}); err != nil {
			return err
		}
		if err := t.run(ctx, s.DB); err != nil {
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
	prefix := "MEMBER#"
	if departmentID != "" {
		prefix = "DM#" + departmentID + "#"
	}
	in := &dynamodb.QueryInput{
		TableName:              s.table(),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avs(TenantPK(tenantID)), ":p": avs(prefix),
		},
		Limit: aws.Int32(int32(limit)),
	}
	if cursor != "" {
		sk, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(sk), prefix) {
			return nil, "", errs.Invalidf("cursor", "invalid_cursor", "cursor is not one this list returned")
		}
		in.ExclusiveStartKey = key(tenantID, string(sk))
	}
	out, err := s.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "list members")
	}
	next := ""
	if out.LastEvaluatedKey != nil {
		next = base64.RawURLEncoding.EncodeToString([]byte(str(out.LastEvaluatedKey["sk"])))
	}
	if departmentID == "" {
		members := make([]Member, 0, len(out.Items))
		for _, it := range out.Items {
			m, err := s.Codec.Member(it)
			if err != nil {
				return nil, "", errs.Wrap(err, "decode member")
			}
			members = append(members, m)
		}
		return members, next, nil
	}
	ids := make([]string, 0, len(out.Items))
	for _, it := range out.Items {
		ids = append(ids, str(it["memberId"]))
	}
	members, err := s.Members(ctx, tenantID, ids)
	return members, next, err
}

// Members returns the tenant's members with the given ids, in that order;
// ids of no member are left out. Partner sync and announcements read
// members through it.
func (s *Service) Members(ctx context.Context, tenantID string, ids []string) ([]Member, error) {
	return membersByID(ctx, s.DB, s.Codec, tenantID, ids)
}

// batchGet reads keys of the directory table, 100 a call, following
// unprocessed keys.
func (s *Service) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	return batchGet(ctx, s.DB, s.Codec.Table, keys)
}

func batchGet(ctx context.Context, db dynamo.BatchGetter, table string, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	got, err := dynamo.BatchGet(ctx, db, map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}})
	return got[table], err
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func num(v types.AttributeValue) float64 {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		f, _ := strconv.ParseFloat(n.Value, 64)
		return f
	}
	return 0
}
