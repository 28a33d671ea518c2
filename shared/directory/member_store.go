package directory

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

func (st *DynamoStore) table() *string { return aws.String(st.Codec.Table) }

// PrepareMember reads, in one BatchGetItem, the custom field definitions
// and which of accounts are free.
func (st *DynamoStore) PrepareMember(ctx context.Context, tenantID string, accounts []string) (defs []Field, version int, free []string, err error) {
	keys := []map[string]types.AttributeValue{key(tenantID, fieldsSK)}
	for _, a := range accounts {
		keys = append(keys, st.Codec.UniqueKey(tenantID, UniqueAccount, a))
	}
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return nil, 0, nil, err
	}
	defs = []Field{}
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
	for _, a := range accounts {
		if !taken[str(st.Codec.UniqueKey(tenantID, UniqueAccount, a)["sk"])] {
			free = append(free, a)
		}
	}
	return defs, version, free, nil
}

func (st *DynamoStore) InsertMember(ctx context.Context, m Member, fieldsVersion int, extra []Extra, change *audit.Change) error {
	t := &txn{}
	if err := t.addExtras(extra); err != nil {
		return err
	}
	return st.insert(ctx, t, m, fieldsVersion, change)
}

// insert adds m and what points at it to t, and writes it.
func (st *DynamoStore) insert(ctx context.Context, t *txn, m Member, fieldsVersion int, change *audit.Change) error {
	items, err := st.Codec.CreateItems(m, ids.New(m.CreatedAt))
	if err != nil {
		return errs.Wrap(err, "encode member")
	}
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
	if fieldsVersion >= 0 {
		t.add(errRetry, st.fieldsCheck(m.TenantID, fieldsVersion))
	}
	if change != nil {
		if err := st.audited(ctx, t, m.TenantID, *change); err != nil {
			return err
		}
	}
	return t.run(ctx, st.DB)
}

// fieldsCheck keeps a member write from racing a change of the field
// definitions it was validated against.
func (st *DynamoStore) fieldsCheck(tenantID string, version int) types.TransactWriteItem {
	return st.Codec.versionCheck(key(tenantID, fieldsSK), "version", version)
}

func (st *DynamoStore) Member(ctx context.Context, tenantID, id string) (Member, []string, error) {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: st.table(), Key: st.Codec.Key(tenantID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Member{}, nil, errs.Wrap(err, "get member")
	}
	if out.Item == nil {
		return Member{}, nil, errMemberNotFound
	}
	m, err := st.Codec.Member(out.Item)
	if err != nil {
		return Member{}, nil, errs.Wrap(err, "decode member")
	}
	return m, storedTokens(out.Item), nil
}

func storedTokens(item map[string]types.AttributeValue) []string {
	var rec struct {
		Tokens []string `dynamodbav:"tokens"`
	}
	_ = attributevalue.UnmarshalMap(item, &rec)
	return rec.Tokens
}

func (st *DynamoStore) Members(ctx context.Context, tenantID string, ids []string) ([]Member, error) {
	return membersByID(ctx, st.DB, st.Codec, tenantID, ids)
}

// ReplaceMember writes the change from old to m in one transaction: the
// member (conditional on its version), moved reservations, department
// memberships, search tokens, the admin set and the event.
func (st *DynamoStore) ReplaceMember(ctx context.Context, old Member, oldTokens []string, m Member, fieldsVersion int, extra []Extra, change audit.Change) error {
	c := st.Codec
	item, err := c.Item(m)
	if err != nil {
		return errs.Wrap(err, "encode member")
	}
	t := &txn{}
	t.add(errRetry, types.TransactWriteItem{Put: &types.Put{
		TableName: st.table(), Item: item,
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
	st.retoken(t, m, oldTokens)
	if fieldsVersion >= 0 {
		t.add(errRetry, st.fieldsCheck(m.TenantID, fieldsVersion))
	}
	depts := slices.Clone(old.DepartmentIDs)
	for _, d := range m.DepartmentIDs {
		if !slices.Contains(depts, d) {
			depts = append(depts, d)
		}
	}
	if err := t.addExtras(extra); err != nil {
		return err
	}
	ev := Event{ID: ids.New(m.UpdatedAt), TenantID: m.TenantID, Type: EventMemberUpdated, MemberID: m.ID, DepartmentIDs: depts, At: m.UpdatedAt}
	return st.commit(ctx, t, ev, change)
}

// retoken adds to t the search token items m no longer has (of oldTokens)
// and those it gains.
func (st *DynamoStore) retoken(t *txn, m Member, oldTokens []string) {
	newTokens := st.Codec.tokens(m)
	for _, tok := range oldTokens {
		if !slices.ContainsFunc(newTokens, func(x token) bool { return x.token == tok }) {
			t.add(nil, types.TransactWriteItem{Delete: &types.Delete{TableName: st.table(), Key: key(m.TenantID, tokenPrefix(tok)+m.ID)}})
		}
	}
	for _, tok := range newTokens {
		if !slices.Contains(oldTokens, tok.token) {
			t.add(nil, types.TransactWriteItem{Put: &types.Put{TableName: st.table(), Item: st.Codec.tokenItem(m.TenantID, m.ID, tok)}})
		}
	}
}

func (st *DynamoStore) DeleteMember(ctx context.Context, old Member, oldTokens []string, ev Event, change audit.Change) error {
	c, tenantID, id := st.Codec, old.TenantID, old.ID
	t := &txn{}
	t.add(errRetry, types.TransactWriteItem{Delete: &types.Delete{
		TableName: st.table(), Key: c.Key(tenantID, id),
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
		t.add(nil, types.TransactWriteItem{Delete: &types.Delete{TableName: st.table(), Key: key(tenantID, tokenPrefix(tok)+id)}})
	}
	return st.commit(ctx, t, ev, change)
}

func (st *DynamoStore) ListMembers(ctx context.Context, tenantID, departmentID, cursor string, limit int) ([]Member, string, error) {
	prefix := MemberSK("")
	if departmentID != "" {
		prefix = membershipSK(departmentID, "")
	}
	in := &dynamodb.QueryInput{
		TableName:              st.table(),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avs(TenantPK(tenantID)), ":p": avs(prefix),
		},
		Limit: aws.Int32(int32(limit)),
	}
	cursors := dynamo.ListCursors("directory/members", tenantID, departmentID)
	start, err := cursors.DecodeKey(cursor, dynamo.KeyIs("pk", TenantPK(tenantID)), dynamo.KeyHasPrefix("sk", prefix))
	if err != nil {
		return nil, "", err
	}
	in.ExclusiveStartKey = start
	out, err := st.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "list members")
	}
	next := cursors.EncodeKey(out.LastEvaluatedKey)
	if departmentID == "" {
		members := make([]Member, 0, len(out.Items))
		for _, it := range out.Items {
			m, err := st.Codec.Member(it)
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
	members, err := st.Members(ctx, tenantID, ids)
	return members, next, err
}

// batchGet reads keys of the directory table, 100 a call, following
// unprocessed keys.
func (st *DynamoStore) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	return batchGet(ctx, st.DB, st.Codec.Table, keys)
}

func batchGet(ctx context.Context, db dynamo.BatchGetter, table string, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	got, err := dynamo.BatchGet(ctx, db, map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}})
	return got[table], err
}
