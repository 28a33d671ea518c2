package directory

import (
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// More keys of the directory table, all under the tenant's partition.
const (
	adminsSK = "ADMINS" // the enabled admins: count, ids and revision
	fieldsSK = "FIELDS" // custom field definitions
)

// Prefixes of the items that point at a member (see MemberOf).
const (
	uniquePrefix     = "UNIQUE#"
	membershipPrefix = "DM#"
	tokenItemPrefix  = "TOK#"
)

func DepartmentSK(id string) string { return "DEPT#" + id }
func membershipSK(departmentID, memberID string) string {
	return membershipPrefix + departmentID + "#" + memberID
}
func tokenPrefix(token string) string      { return tokenItemPrefix + token + "#" }
func InvitationSK(code string) string      { return "INVITE#" + code }
func contactPrefix(memberID string) string { return "FC#" + memberID + "#" }

// MemberOf returns the member that an item of the directory points at: a
// unique value's reservation, a search token or a department membership;
// ok is false for any other item. A check for half-written members reads a
// tenant's items through it.
func MemberOf(item map[string]types.AttributeValue) (memberID string, ok bool) {
	switch sk := str(item["sk"]); {
	case strings.HasPrefix(sk, uniquePrefix):
		return str(item["memberId"]), true
	case strings.HasPrefix(sk, tokenItemPrefix), strings.HasPrefix(sk, membershipPrefix):
		return sk[strings.LastIndexByte(sk, '#')+1:], true
	}
	return "", false
}

func avs(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avn(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

func key(tenantID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": avs(TenantPK(tenantID)), "sk": avs(sk)}
}

// adminDelta adds memberID to the tenant's enabled admins (delta +1) or
// takes it away (-1): the count, the set of ids and the revision that a
// notice sender's snapshot of the admins is checked against
// (RecipientChecks). Taking one away is conditional on another remaining,
// which is what keeps the last admin.
func (c *Codec) adminDelta(tenantID, memberID string, delta int) types.TransactWriteItem {
	expr := "ADD admins :d, rev :one, ids :id SET #t = :t"
	if delta < 0 {
		expr = "ADD admins :d, rev :one DELETE ids :id SET #t = :t"
	}
	u := &types.Update{
		TableName:                aws.String(c.Table),
		Key:                      key(tenantID, adminsSK),
		UpdateExpression:         aws.String(expr),
		ExpressionAttributeNames: map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":d": avn(delta), ":one": avn(1), ":t": avs("admins"),
			":id": &types.AttributeValueMemberSS{Value: []string{memberID}},
		},
	}
	if delta < 0 {
		u.ConditionExpression = aws.String("admins > :one")
	}
	return types.TransactWriteItem{Update: u}
}

// joinDepartment returns the items adding a member to a department: the
// department's member count (conditional on the department existing, which
// is how "departments must exist" holds without a read) and the membership
// item that lists the department's members.
func (c *Codec) joinDepartment(tenantID, departmentID, memberID string) []types.TransactWriteItem {
	return []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 aws.String(c.Table),
			Key:                       key(tenantID, DepartmentSK(departmentID)),
			UpdateExpression:          aws.String("ADD members :one"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": avn(1)},
		}},
		{Put: &types.Put{TableName: aws.String(c.Table), Item: map[string]types.AttributeValue{
			"pk": avs(TenantPK(tenantID)), "sk": avs(membershipSK(departmentID, memberID)),
			"type": avs("membership"), "memberId": avs(memberID), "departmentId": avs(departmentID),
		}}},
	}
}

// leaveDepartment undoes joinDepartment.
func (c *Codec) leaveDepartment(tenantID, departmentID, memberID string) []types.TransactWriteItem {
	return []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 aws.String(c.Table),
			Key:                       key(tenantID, DepartmentSK(departmentID)),
			UpdateExpression:          aws.String("ADD members :d"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": avn(-1)},
		}},
		{Delete: &types.Delete{TableName: aws.String(c.Table), Key: key(tenantID, membershipSK(departmentID, memberID))}},
	}
}

// token is a search form's blind token with its rank hint.
type token struct {
	token string
	rank  int
}

// tokens returns the blind tokens of a member's search forms.
func (c *Codec) tokens(m Member) []token {
	forms := searchForms(m.Name, m.Account, m.Mobile)
	out := make([]token, len(forms))
	for i, f := range forms {
		out[i] = token{c.searchToken(m.TenantID, f.text), f.rank}
	}
	return out
}

func (c *Codec) searchToken(tenantID, form string) string {
	return c.Index.Token(tenantID, "search", form)
}

// tokenItem is the search item of one token of a member: its key is all
// there is to it, besides the rank hint that orders candidates.
func (c *Codec) tokenItem(tenantID, memberID string, t token) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": avs(TenantPK(tenantID)), "sk": avs(tokenPrefix(t.token) + memberID),
		"type": avs("token"), "r": avn(t.rank),
	}
}

func (c *Codec) eventItem(e Event) (types.TransactWriteItem, error) {
	e.PK, e.SK, e.At = EventPK(e.TenantID), e.ID, e.At.UTC()
	item, err := attributevalue.MarshalMap(e)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return putNew(c.Table, item), nil
}

// SeedItems returns the items of m for a BatchWriteItem seed (benchmarks,
// imports): exactly what CreateItems writes, without conditions. Counters
// (admins, department member counts) are not included.
func (c *Codec) SeedItems(m Member) ([]map[string]types.AttributeValue, error) {
	tx, err := c.CreateItems(m, "seed-"+m.ID)
	if err != nil {
		return nil, err
	}
	var out []map[string]types.AttributeValue
	for i, it := range tx {
		if it.Put != nil && i != CreateEvent {
			out = append(out, it.Put.Item)
		}
	}
	return out, nil
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
