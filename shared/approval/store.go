package approval

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Store keeps approvals, their list entries and the chains.
type Store interface {
	GetChain(ctx context.Context, tenantID, form string) (Chain, bool, error)
	PutChain(ctx context.Context, tenantID string, c Chain) error
	Create(ctx context.Context, a *Approval) error
	Get(ctx context.Context, tenantID, id string) (*Approval, error)
	// Update writes a's new state if the stored version is still
	// a.Version-1, moving the "to approve" entry from one member to another
	// (either may be empty). A lost race is a Conflict.
	Update(ctx context.Context, a *Approval, removeTodo, addTodo string) error
	ListTodo(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error)
	ListSubmitted(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error)
	ListCC(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error)
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore keeps everything of a tenant's approvals in the approvals
// table:
//
//	pk=T#<tenant>               sk=APPROVAL#<id>   the approval (gsi1: SUBMITTED#<tenant>#<applicant>, <id>)
//	pk=T#<tenant>               sk=CHAIN#<form>    a form's approver chain
//	pk=TODO#<tenant>#<member>   sk=<id>            "to approve": present while it is member's turn
//	pk=CC#<tenant>#<member>     sk=<id>            "CC to me"
//
// Ids are time-ordered, so every list reads one partition backwards.
// Attribute names are the API's field names (ApprovalAttributes).
type DynamoStore struct {
	DB    DB
	Table string
	Audit *audit.Log // chain changes are audited (nil: not)
}

var _ Store = (*DynamoStore)(nil)

// ApprovalAttributes are the attributes of a stored approval of each form,
// beside its keys (pk, sk, gsi1pk, gsi1sk, type).
var ApprovalAttributes = []string{
	"id", "tenantId", "form", "applicantId", "status", "step", "approvers", "cc",
	"history", "createdAt", "updatedAt", "version",
	// one of, by form
	"leave", "outing", "reimbursement",
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func tenantPK(t string) string       { return "T#" + t }
func todoPK(t, m string) string      { return "TODO#" + t + "#" + m }
func ccPK(t, m string) string        { return "CC#" + t + "#" + m }
func submittedPK(t, m string) string { return "SUBMITTED#" + t + "#" + m }
func approvalKey(t, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(tenantPK(t)), "sk": s("APPROVAL#" + id)}
}

type approvalRecord struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	Type   string `dynamodbav:"type"`
	Approval
}

type chainRecord struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Chain
}

type entryRecord struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Summary
}

func (d *DynamoStore) GetChain(ctx context.Context, tenantID, form string) (Chain, bool, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.Table),
		Key:       map[string]types.AttributeValue{"pk": s(tenantPK(tenantID)), "sk": s("CHAIN#" + form)},
	})
	if err != nil {
		return Chain{}, false, errs.Wrap(err, "get chain")
	}
	if out.Item == nil {
		return Chain{Form: form, Approvers: []Approver{}, CC: []string{}}, false, nil
	}
	var r chainRecord
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return Chain{}, false, errs.Wrap(err, "decode chain")
	}
	return r.Chain, true, nil
}

func (d *DynamoStore) PutChain(ctx context.Context, tenantID string, c Chain) error {
	item, err := attributevalue.MarshalMap(chainRecord{PK: tenantPK(tenantID), SK: "CHAIN#" + c.Form, Chain: c})
	if err != nil {
		return errs.Wrap(err, "encode chain")
	}
	change := audit.Change{Action: audit.ApprovalChainUpdate, Target: "approval-chain/" + c.Form, Fields: []string{"approvers", "cc"}}
	err = d.Audit.Write(ctx, d.DB, tenantID, change, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(d.Table), Item: item}})
	return errs.Wrap(err, "put chain")
}

func (d *DynamoStore) approvalItem(a *Approval) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMap(approvalRecord{
		PK: tenantPK(a.TenantID), SK: "APPROVAL#" + a.ID, Type: "approval",
		GSI1PK: submittedPK(a.TenantID, a.ApplicantID), GSI1SK: a.ID, Approval: *a,
	})
}

func (d *DynamoStore) entry(pk string, a *Approval) (types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(entryRecord{PK: pk, SK: a.ID, Summary: a.Summary()})
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(d.Table), Item: item}}, err
}

func (d *DynamoStore) Create(ctx context.Context, a *Approval) error {
	item, err := d.approvalItem(a)
	if err != nil {
		return errs.Wrap(err, "encode approval")
	}
	tx := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(d.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}
	if m := a.CurrentApprover(); m != "" {
		e, err := d.entry(todoPK(a.TenantID, m), a)
		if err != nil {
			return errs.Wrap(err, "encode entry")
		}
		tx = append(tx, e)
	}
	for _, m := range a.CC {
		e, err := d.entry(ccPK(a.TenantID, m), a)
		if err != nil {
			return errs.Wrap(err, "encode entry")
		}
		tx = append(tx, e)
	}
	if len(tx) > dynamo.MaxTransactItems {
		return errs.E(errs.Internal, "internal", "approval transaction too large")
	}
	_, err = d.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	return errs.Wrap(err, "create approval")
}

func (d *DynamoStore) Get(ctx context.Context, tenantID, id string) (*Approval, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.Table), Key: approvalKey(tenantID, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, errs.Wrap(err, "get approval")
	}
	if out.Item == nil {
		return nil, errs.NotFoundf("approval_not_found", "no such approval")
	}
	var r approvalRecord
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return nil, errs.Wrap(err, "decode approval")
	}
	a := r.Approval
	return &a, nil
}

func (d *DynamoStore) Update(ctx context.Context, a *Approval, removeTodo, addTodo string) error {
	item, err := d.approvalItem(a)
	if err != nil {
		return errs.Wrap(err, "encode approval")
	}
	tx := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(d.Table), Item: item,
		ConditionExpression:       aws.String("#v = :v AND #s = :pending"),
		ExpressionAttributeNames:  map[string]string{"#v": "version", "#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(a.Version - 1)}, ":pending": s(Pending)},
	}}}
	if removeTodo != "" {
		tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(d.Table),
			Key:       map[string]types.AttributeValue{"pk": s(todoPK(a.TenantID, removeTodo)), "sk": s(a.ID)},
		}})
	}
	if addTodo != "" {
		e, err := d.entry(todoPK(a.TenantID, addTodo), a)
		if err != nil {
			return errs.Wrap(err, "encode entry")
		}
		if addTodo == removeTodo {
			// One approver on two consecutive steps: the entry stays.
			tx = tx[:1]
		} else {
			tx = append(tx, e)
		}
	}
	_, err = d.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err) {
		return errs.E(errs.Conflict, "stale_state", "the approval changed meanwhile; reload it")
	}
	return errs.Wrap(err, "update approval")
}

// pageCursors are the cursors of the list of partition pk (a member's todo,
// CC or submitted list), which names its tenant and member.
func pageCursors(pk string) dynamo.Cursors { return dynamo.ListCursors("approvals", pk) }

// pageQuery reads a page of pk's list: the entries under pk, or with an
// index, the approvals whose index partition is pk.
func pageQuery(table, tenantID, pk, index, cursor string, limit int) (*dynamodb.QueryInput, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(pk)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	start := []dynamo.KeyAttr{dynamo.KeyIs("pk", pk), dynamo.KeyHasPrefix("sk", "")}
	if index != "" {
		in.IndexName = aws.String(index)
		in.KeyConditionExpression = aws.String("gsi1pk = :pk")
		start = []dynamo.KeyAttr{
			dynamo.KeyIs("pk", tenantPK(tenantID)), dynamo.KeyHasPrefix("sk", "APPROVAL#"),
			dynamo.KeyIs("gsi1pk", pk), dynamo.KeyHasPrefix("gsi1sk", ""),
		}
	}
	var err error
	in.ExclusiveStartKey, err = pageCursors(pk).DecodeKey(cursor, start...)
	return in, err
}

func (d *DynamoStore) listEntries(ctx context.Context, tenantID, pk, cursor string, limit int) ([]Summary, string, error) {
	in, err := pageQuery(d.Table, tenantID, pk, "", cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out, err := d.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "list approvals")
	}
	list := make([]Summary, 0, len(out.Items))
	for _, item := range out.Items {
		var r entryRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, "", errs.Wrap(err, "decode entry")
		}
		list = append(list, r.Summary)
	}
	return list, pageCursors(pk).EncodeKey(out.LastEvaluatedKey), nil
}

// ListTodo is one Query: the entries exist exactly while it is the
// member's turn, so they are all pending.
func (d *DynamoStore) ListTodo(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error) {
	return d.listEntries(ctx, tenantID, todoPK(tenantID, memberID), cursor, limit)
}

// ListSubmitted queries the applicant index of the approvals themselves, so
// states are current.
func (d *DynamoStore) ListSubmitted(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error) {
	pk := submittedPK(tenantID, memberID)
	in, err := pageQuery(d.Table, tenantID, pk, "gsi1", cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out, err := d.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "list approvals")
	}
	list := make([]Summary, 0, len(out.Items))
	for _, item := range out.Items {
		var r approvalRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, "", errs.Wrap(err, "decode approval")
		}
		list = append(list, r.Summary())
	}
	return list, pageCursors(pk).EncodeKey(out.LastEvaluatedKey), nil
}

// ListCC reads the CC entries, then the approvals they point to in one
// BatchGetItem, so the states shown are current.
func (d *DynamoStore) ListCC(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error) {
	entries, next, err := d.listEntries(ctx, tenantID, ccPK(tenantID, memberID), cursor, limit)
	if err != nil || len(entries) == 0 {
		return entries, next, err
	}
	keys := make([]map[string]types.AttributeValue, len(entries))
	for i, e := range entries {
		keys[i] = approvalKey(tenantID, e.ID)
	}
	current := map[string]Summary{}
	got, err := dynamo.BatchGet(ctx, d.DB, map[string]types.KeysAndAttributes{d.Table: {Keys: keys}})
	if err != nil {
		return nil, "", errs.Wrap(err, "read approvals")
	}
	for _, item := range got[d.Table] {
		var r approvalRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, "", errs.Wrap(err, "decode approval")
		}
		current[r.ID] = r.Summary()
	}
	for i, e := range entries {
		if c, ok := current[e.ID]; ok {
			entries[i] = c
		}
	}
	return entries, next, nil
}
