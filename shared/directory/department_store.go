package directory

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/errs"
)

// DepartmentItem encodes d as its directory item (also for seeding tests
// and imports).
func (c *Codec) DepartmentItem(d Department) (map[string]types.AttributeValue, error) {
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return attributevalue.MarshalMap(departmentRecord{PK: TenantPK(d.TenantID), SK: DepartmentSK(d.ID), Type: "department", Department: d})
}

// childDelta changes a department's count of children, conditional on it
// existing.
func (c *Codec) childDelta(tenantID, id string, delta int) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(c.Table), Key: key(tenantID, DepartmentSK(id)),
		UpdateExpression:          aws.String("ADD children :d"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": avn(delta)},
	}}
}

func (st *DynamoStore) Departments(ctx context.Context, tenantID string) ([]Department, error) {
	return departments(ctx, st.DB, st.Codec.Table, tenantID)
}

func (st *DynamoStore) Department(ctx context.Context, tenantID, id string) (Department, bool, error) {
	var rec departmentRecord
	ok, err := st.get(ctx, tenantID, DepartmentSK(id), "department", &rec)
	return rec.Department, ok, err
}

func (st *DynamoStore) CreateDepartment(ctx context.Context, d Department, ev Event, change audit.Change) error {
	item, err := st.Codec.DepartmentItem(d)
	if err != nil {
		return errs.Wrap(err, "encode department")
	}
	t := &txn{}
	t.add(errRetry, putNew(st.Codec.Table, item))
	if d.ParentID != "" {
		t.add(errNoParent, st.Codec.childDelta(d.TenantID, d.ParentID, +1))
	}
	return st.commit(ctx, t, ev, change)
}

func (st *DynamoStore) UpdateDepartment(ctx context.Context, old, d Department, ancestry []Department, ev Event, change audit.Change) error {
	t := &txn{}
	if d.ParentID != old.ParentID {
		st.moveItems(t, old, d, ancestry)
	}
	t.add(errRetry, types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(st.Codec.Table), Key: key(d.TenantID, DepartmentSK(d.ID)),
		UpdateExpression:         aws.String("SET #n = :n, parentId = :p, updatedAt = :u, version = :v1"),
		ConditionExpression:      aws.String("version = :v"),
		ExpressionAttributeNames: map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": avs(d.Name), ":p": avs(d.ParentID), ":u": avs(d.UpdatedAt.UTC().Format(time.RFC3339Nano)),
			":v": avn(old.Version), ":v1": avn(d.Version),
		},
	}})
	return st.commit(ctx, t, ev, change)
}

// moveItems adds to t one item for each department a move touches: its
// change of child count and, for the new parent's ancestry, the check that
// it is still at the version the cycle check saw.
func (st *DynamoStore) moveItems(t *txn, old, d Department, ancestry []Department) {
	delta := map[string]int{}
	version := map[string]int{}
	var order []string
	touch := func(id string) {
		if _, ok := delta[id]; !ok {
			order = append(order, id)
			delta[id] = 0
		}
	}
	for _, a := range ancestry {
		touch(a.ID)
		version[a.ID] = a.Version
	}
	if d.ParentID != "" {
		touch(d.ParentID)
		delta[d.ParentID]++
	}
	if old.ParentID != "" {
		touch(old.ParentID)
		delta[old.ParentID]--
	}
	for _, a := range order {
		cond := "attribute_exists(pk)"
		vals := map[string]types.AttributeValue{}
		if v, ok := version[a]; ok {
			cond += " AND version = :v"
			vals[":v"] = avn(v)
		}
		why := errRetry
		if a == d.ParentID {
			why = errNoParent
		}
		k := key(d.TenantID, DepartmentSK(a))
		if dl := delta[a]; dl != 0 {
			vals[":d"] = avn(dl)
			t.add(why, types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(st.Codec.Table), Key: k,
				UpdateExpression: aws.String("ADD children :d"), ConditionExpression: aws.String(cond),
				ExpressionAttributeValues: vals,
			}})
		} else {
			t.add(why, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName: aws.String(st.Codec.Table), Key: k,
				ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
			}})
		}
	}
}

func (st *DynamoStore) DeleteDepartment(ctx context.Context, d Department, ev Event, change audit.Change) error {
	t := &txn{}
	// A failed condition means the department changed since the read (a
	// member joined, a child was added, a rename): read again.
	t.add(errRetry, types.TransactWriteItem{Delete: &types.Delete{
		TableName: aws.String(st.Codec.Table), Key: key(d.TenantID, DepartmentSK(d.ID)),
		ConditionExpression:       aws.String("version = :v AND (attribute_not_exists(members) OR members = :z) AND (attribute_not_exists(children) OR children = :z)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": avn(d.Version), ":z": avn(0)},
	}})
	if d.ParentID != "" {
		t.add(errRetry, st.Codec.childDelta(d.TenantID, d.ParentID, -1))
	}
	return st.commit(ctx, t, ev, change)
}
