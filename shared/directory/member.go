// Package directory is the address book: members, their rules and how they
// are stored, with personal data (name, mobile, email) sealed at rest and
// found through blind indexes.
package directory

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/keyring"
)

// Member is a person in a tenant's directory.
type Member struct {
	ID            string         `json:"id"`
	TenantID      string         `json:"tenantId"`
	Name          string         `json:"name"`
	Mobile        string         `json:"mobile"`
	Account       string         `json:"account"`
	Email         string         `json:"email,omitempty"`
	Role          string         `json:"role"`
	Enabled       bool           `json:"enabled"`
	DepartmentIDs []string       `json:"departmentIds"`
	Position      string         `json:"position,omitempty"`
	EmployeeNo    string         `json:"employeeNo,omitempty"`
	Fields        map[string]any `json:"fields"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
	Version       int            `json:"-"`
	// SessionsNotBefore ends every session opened before it (set when the
	// member is disabled); the auth middleware compares it with the
	// session's creation.
	SessionsNotBefore *time.Time `json:"-"`
}

// Keys of the directory table. Everything of a tenant lives under its
// partition "T#<tenant>", so no query can cross tenants by construction.
func TenantPK(tenantID string) string         { return "T#" + tenantID }
func MemberSK(memberID string) string         { return "MEMBER#" + memberID }
func UniqueSK(kind, token string) string      { return uniquePrefix + kind + "#" + token }
func EventPK(tenantID string) string          { return "EVENT#" + tenantID }
func memberAAD(tenantID, id, f string) string { return "member|" + tenantID + "|" + id + "|" + f }

// Unique kinds: the values that must be unique within a tenant.
const (
	UniqueMobile  = "mobile"
	UniqueAccount = "account"
)

// Codec turns members into directory items and back, sealing personal data
// with Keys and deriving lookup tokens with Index.
type Codec struct {
	Table string
	Keys  *keyring.Keyring
	Index *keyring.Index
}

// Token returns the blind index of a unique value (already normalised).
func (c *Codec) Token(tenantID, kind, value string) string {
	return c.Index.Token(tenantID, kind, value)
}

type memberRecord struct {
	PK            string         `dynamodbav:"pk"`
	SK            string         `dynamodbav:"sk"`
	Type          string         `dynamodbav:"type"`
	ID            string         `dynamodbav:"id"`
	TenantID      string         `dynamodbav:"tenantId"`
	Name          string         `dynamodbav:"name"`
	Mobile        string         `dynamodbav:"mobile"`
	Email         string         `dynamodbav:"email,omitempty"`
	Account       string         `dynamodbav:"account"`
	Role          string         `dynamodbav:"role"`
	Enabled       bool           `dynamodbav:"enabled"`
	DepartmentIDs []string       `dynamodbav:"departmentIds"`
	Position      string         `dynamodbav:"position,omitempty"`
	EmployeeNo    string         `dynamodbav:"employeeNo,omitempty"`
	Fields        map[string]any `dynamodbav:"fields"`
	CreatedAt     time.Time      `dynamodbav:"createdAt"`
	UpdatedAt     time.Time      `dynamodbav:"updatedAt"`
	Version       int            `dynamodbav:"version"`
	// SessionsNotBefore is read by the auth middleware (shared/auth).
	SessionsNotBefore *time.Time `dynamodbav:"sessionsNotBefore,omitempty"`
	// Tokens are the blind search tokens the member's token items carry,
	// kept so that an update or delete removes exactly those items.
	Tokens []string `dynamodbav:"tokens,omitempty"`
}

// Item encodes m as its directory item, personal data sealed.
func (c *Codec) Item(m Member) (map[string]types.AttributeValue, error) {
	rec := memberRecord{
		PK: TenantPK(m.TenantID), SK: MemberSK(m.ID), Type: "member",
		ID: m.ID, TenantID: m.TenantID,
		Name:    c.Keys.Seal(m.Name, memberAAD(m.TenantID, m.ID, "name")),
		Mobile:  c.Keys.Seal(m.Mobile, memberAAD(m.TenantID, m.ID, "mobile")),
		Account: m.Account, Role: m.Role, Enabled: m.Enabled,
		DepartmentIDs: nonNil(m.DepartmentIDs), Position: m.Position, EmployeeNo: m.EmployeeNo,
		Fields: m.Fields, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(), Version: m.Version,
		SessionsNotBefore: m.SessionsNotBefore,
	}
	for _, t := range c.tokens(m) {
		rec.Tokens = append(rec.Tokens, t.token)
	}
	if rec.Fields == nil {
		rec.Fields = map[string]any{}
	}
	if m.Email != "" {
		rec.Email = c.Keys.Seal(m.Email, memberAAD(m.TenantID, m.ID, "email"))
	}
	return attributevalue.MarshalMap(rec)
}

// Member decodes a directory item, opening its personal data.
func (c *Codec) Member(item map[string]types.AttributeValue) (Member, error) {
	var rec memberRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return Member{}, fmt.Errorf("directory: decode member: %w", err)
	}
	m := Member{
		ID: rec.ID, TenantID: rec.TenantID, Account: rec.Account, Role: rec.Role, Enabled: rec.Enabled,
		DepartmentIDs: nonNil(rec.DepartmentIDs), Position: rec.Position, EmployeeNo: rec.EmployeeNo,
		Fields: rec.Fields, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Version: rec.Version,
		SessionsNotBefore: rec.SessionsNotBefore,
	}
	if m.Fields == nil {
		m.Fields = map[string]any{}
	}
	var err error
	if m.Name, err = c.Keys.Open(rec.Name, memberAAD(rec.TenantID, rec.ID, "name")); err != nil {
		return Member{}, fmt.Errorf("directory: open name of member %s: %w", rec.ID, err)
	}
	if m.Mobile, err = c.Keys.Open(rec.Mobile, memberAAD(rec.TenantID, rec.ID, "mobile")); err != nil {
		return Member{}, fmt.Errorf("directory: open mobile of member %s: %w", rec.ID, err)
	}
	if rec.Email != "" {
		if m.Email, err = c.Keys.Open(rec.Email, memberAAD(rec.TenantID, rec.ID, "email")); err != nil {
			return Member{}, fmt.Errorf("directory: open email of member %s: %w", rec.ID, err)
		}
	}
	return m, nil
}

// Key is the primary key of a member's item.
func (c *Codec) Key(tenantID, memberID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: TenantPK(tenantID)},
		"sk": &types.AttributeValueMemberS{Value: MemberSK(memberID)},
	}
}

// UniqueKey is the primary key of the item that reserves a unique value.
func (c *Codec) UniqueKey(tenantID, kind, value string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: TenantPK(tenantID)},
		"sk": &types.AttributeValueMemberS{Value: UniqueSK(kind, c.Token(tenantID, kind, value))},
	}
}

// Positions of the items CreateItems returns, for reading which condition
// failed when the transaction is cancelled. The items after CreateEvent are
// the admin counter (for an enabled admin), two per department (the
// department's member count, conditional on the department existing, and
// the membership item) and the search token items.
const (
	CreateMember = iota
	CreateMobile
	CreateAccount
	CreateEvent
)

// CreateItems returns the transaction items that add m: the member, the
// items reserving its mobile and account (each conditional on not existing,
// so concurrent duplicates lose), the directory event for partner sync, the
// admin count, its department memberships and its search tokens.
func (c *Codec) CreateItems(m Member, eventID string) ([]types.TransactWriteItem, error) {
	item, err := c.Item(m)
	if err != nil {
		return nil, err
	}
	event, err := c.eventItem(Event{
		ID: eventID, TenantID: m.TenantID, Type: EventMemberCreated, MemberID: m.ID,
		DepartmentIDs: m.DepartmentIDs, At: m.CreatedAt,
	})
	if err != nil {
		return nil, err
	}
	tx := []types.TransactWriteItem{
		CreateMember:  putNew(c.Table, item),
		CreateMobile:  c.reserve(m.TenantID, UniqueMobile, m.Mobile, m.ID),
		CreateAccount: c.reserve(m.TenantID, UniqueAccount, m.Account, m.ID),
		CreateEvent:   event,
	}
	if countsAsAdmin(m) {
		tx = append(tx, c.adminDelta(m.TenantID, m.ID, +1))
	}
	for _, d := range m.DepartmentIDs {
		tx = append(tx, c.joinDepartment(m.TenantID, d, m.ID)...)
	}
	for _, t := range c.tokens(m) {
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(c.Table), Item: c.tokenItem(m.TenantID, m.ID, t)}})
	}
	return tx, nil
}

// countsAsAdmin reports whether m counts towards the tenant's admins: the
// last enabled admin cannot be demoted, disabled or deleted.
func countsAsAdmin(m Member) bool { return m.Role == RoleAdmin && m.Enabled }

// reserve is the item reserving a unique value for a member, conditional on
// the value being free.
func (c *Codec) reserve(tenantID, kind, value, memberID string) types.TransactWriteItem {
	it := c.UniqueKey(tenantID, kind, value)
	it["memberId"] = &types.AttributeValueMemberS{Value: memberID}
	it["type"] = &types.AttributeValueMemberS{Value: "unique"}
	return putNew(c.Table, it)
}

// release deletes a member's reservation of a unique value.
func (c *Codec) release(tenantID, kind, value, memberID string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(c.Table),
		Key:                       c.UniqueKey(tenantID, kind, value),
		ConditionExpression:       aws.String("memberId = :m"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": avs(memberID)},
	}}
}

func putNew(table string, item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:           aws.String(table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
