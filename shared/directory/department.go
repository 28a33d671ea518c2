package directory

import (
	"context"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Department is a node of a tenant's department tree.
type Department struct {
	ID        string    `json:"id" dynamodbav:"id"`
	TenantID  string    `json:"-" dynamodbav:"tenantId"`
	Name      string    `json:"name" dynamodbav:"name"`
	ParentID  string    `json:"parentId,omitempty" dynamodbav:"parentId,omitempty"`
	Members   int       `json:"memberCount" dynamodbav:"members"`
	Children  int       `json:"-" dynamodbav:"children"`
	CreatedAt time.Time `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt" dynamodbav:"updatedAt"`
	Version   int       `json:"-" dynamodbav:"version"`
	// Sub are the child departments, in the tree GET /v1/departments
	// returns.
	Sub []*Department `json:"children" dynamodbav:"-"`
}

type departmentRecord struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Department
}

// MaxDepartmentNameRunes limits a department name.
const MaxDepartmentNameRunes = 30

// NormalizeDepartmentName checks a department name: 1–30 printable
// characters, trimmed.
func NormalizeDepartmentName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxDepartmentNameRunes || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", errs.Invalidf(field, "invalid_department_name", "%s must be 1–%d printable characters", field, MaxDepartmentNameRunes)
	}
	return name, nil
}

var (
	errDepartmentNotFound = errs.NotFoundf("department_not_found", "no department with this id in the tenant")
	errNoParent           = errs.Invalidf("parentId", "department_not_found", "parentId names a department that does not exist")
	errNotEmpty           = errs.E(errs.Conflict, "department_not_empty", "the department still has members or sub-departments")
)

// DepartmentItem encodes d as its directory item (also for seeding tests
// and imports).
func (c *Codec) DepartmentItem(d Department) (map[string]types.AttributeValue, error) {
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return attributevalue.MarshalMap(departmentRecord{PK: TenantPK(d.TenantID), SK: DepartmentSK(d.ID), Type: "department", Department: d})
}

// childDelta changes a department's count of children, conditional on it
// existing.
func (s *Service) childDelta(tenantID, id string, delta int) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: s.table(), Key: key(tenantID, DepartmentSK(id)),
		UpdateExpression:          aws.String("ADD children :d"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": avn(delta)},
	}}
}

// CreateDepartment adds a department under parentID ("" for the top).
func (s *Service) CreateDepartment(ctx context.Context, tenantID, name, parentID string) (Department, error) {
	name, err := NormalizeDepartmentName("name", name)
	if err != nil {
		return Department{}, err
	}
	parentID = strings.TrimSpace(parentID)
	now := s.now()
	d := Department{ID: ids.New(now), TenantID: tenantID, Name: name, ParentID: parentID, CreatedAt: now, UpdatedAt: now, Version: 1, Sub: []*Department{}}
	item, err := s.Codec.DepartmentItem(d)
	if err != nil {
		return Department{}, errs.Wrap(err, "encode department")
	}
	ev, err := s.Codec.eventItem(Event{ID: ids.New(now), TenantID: tenantID, Type: EventDepartmentCreated, DepartmentID: d.ID, ParentIDs: nonEmpty(parentID), At: now})
	if err != nil {
		return Department{}, errs.Wrap(err, "encode event")
	}
	fields := []string{"name"}
	if parentID != "" {
		fields = append(fields, "parentId")
	}
	err = retry(ctx, func() error {
		t := &txn{}
		t.add(errRetry, putNew(s.Codec.Table, item))
		if parentID != "" {
			t.add(errNoParent, s.childDelta(tenantID, parentID, +1))
		}
		t.add(nil, ev)
		if err := s.audited(ctx, t, tenantID, audit.Change{Action: audit.DepartmentCreate, Target: "department/" + d.ID, Fields: fields}); err != nil {
			return err
		}
		return t.run(ctx, s.DB)
	})
	if err != nil {
		return Department{}, err
	}
	return d, nil
}

func nonEmpty(v ...string) []string {
	var out []string
	for _, x := range v {
		if x != "" && !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Departments returns every department of the tenant, flat.
func (s *Service) Departments(ctx context.Context, tenantID string) ([]Department, error) {
	return departments(ctx, s.DB, s.Codec.Table, tenantID)
}

// DepartmentTree returns the tenant's departments as a tree: the top
// departments, each with its children, by name.
func (s *Service) DepartmentTree(ctx context.Context, tenantID string) ([]*Department, error) {
	flat, err := s.Departments(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Department{}
	for i := range flat {
		byID[flat[i].ID] = &flat[i]
	}
	roots := []*Department{}
	for i := range flat {
		d := &flat[i]
		if p, ok := byID[d.ParentID]; ok {
			p.Sub = append(p.Sub, d)
		} else {
			roots = append(roots, d)
		}
	}
	var order func([]*Department)
	order = func(ds []*Department) {
		sort.Slice(ds, func(i, j int) bool {
			if ds[i].Name != ds[j].Name {
				return ds[i].Name < ds[j].Name
			}
			return ds[i].ID < ds[j].ID
		})
		for _, d := range ds {
			order(d.Sub)
		}
	}
	order(roots)
	return roots, nil
}

// DepartmentPatch renames or moves a department; ParentID "" moves it to
// the top.
type DepartmentPatch struct {
	Name     *string `json:"name"`
	ParentID *string `json:"parentId"`
}

// UpdateDepartment renames or moves a department. A move under itself or
// one of its descendants is a 400; the move is conditional on the new
// parent's ancestry being what was checked, so two concurrent moves cannot
// make a cycle together.
func (s *Service) UpdateDepartment(ctx context.Context, tenantID, id string, p DepartmentPatch) (Department, error) {
	var out Department
	err := retry(ctx, func() error {
		all, err := s.Departments(ctx, tenantID)
		if err != nil {
			return err
		}
		byID := map[string]Department{}
		for _, d := range all {
			byID[d.ID] = d
		}
		old, ok := byID[id]
		if !ok {
			return errDepartmentNotFound
		}
		d := old
		if p.Name != nil {
			if d.Name, err = NormalizeDepartmentName("name", *p.Name); err != nil {
				return err
			}
		}
		t := &txn{}
		if p.ParentID != nil {
			d.ParentID = strings.TrimSpace(*p.ParentID)
		}
		if d.ParentID != old.ParentID {
			// Each department touched gets one item: its child count change
			// and, for the new parent's ancestry, the check that its parent
			// is still what the cycle check saw.
			delta := map[string]int{}
			checked := map[string]bool{}
			var order []string
			touch := func(id string) {
				if _, ok := delta[id]; !ok && !checked[id] {
					order = append(order, id)
				}
			}
			if d.ParentID != "" {
				up, err := ancestry(parents(all), id, d.ParentID)
				if err != nil {
					return err
				}
				for _, a := range up {
					touch(a)
					checked[a] = true
				}
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
				if checked[a] {
					cond += " AND version = :v"
					vals[":v"] = avn(byID[a].Version)
				}
				why := errRetry
				if a == d.ParentID {
					why = errNoParent
				}
				if dl := delta[a]; dl != 0 {
					vals[":d"] = avn(dl)
					t.add(why, types.TransactWriteItem{Update: &types.Update{
						TableName: s.table(), Key: key(tenantID, DepartmentSK(a)),
						UpdateExpression: aws.String("ADD children :d"), ConditionExpression: aws.String(cond),
						ExpressionAttributeValues: vals,
					}})
				} else {
					t.add(why, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
						TableName: s.table(), Key: key(tenantID, DepartmentSK(a)),
						ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
					}})
				}
			}
		}
		now := s.now()
		d.UpdatedAt, d.Version = now, old.Version+1
		t.add(errRetry, types.TransactWriteItem{Update: &types.Update{
			TableName: s.table(), Key: key(tenantID, DepartmentSK(id)),
			UpdateExpression:          aws.String("SET #n = :n, parentId = :p, updatedAt = :u, version = :v1"),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeNames:  map[string]string{"#n": "name"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": avs(d.Name), ":p": avs(d.ParentID), ":u": avs(now.Format(time.RFC3339Nano)), ":v": avn(old.Version), ":v1": avn(d.Version)},
		}})
		ev, err := s.Codec.eventItem(Event{ID: ids.New(now), TenantID: tenantID, Type: EventDepartmentUpdated, DepartmentID: id, ParentIDs: nonEmpty(old.ParentID, d.ParentID), At: now})
		if err != nil {
			return errs.Wrap(err, "encode event")
		}
		t.add(nil, ev)
		var fields []string
		if d.Name != old.Name {
			fields = append(fields, "name")
		}
		if d.ParentID != old.ParentID {
			fields = append(fields, "parentId")
		}
		if err := s.audited(ctx, t, tenantID, audit.Change{Action: audit.DepartmentUpdate, Target: "department/" + id, Fields: fields}); err != nil {
			return err
		}
		if err := t.run(ctx, s.DB); err != nil {
			return err
		}
		d.Sub = []*Department{}
		out = d
		return nil
	})
	return out, err
}

var errCycle = errs.Invalidf("parentId", "department_cycle", "a department cannot move under itself or one of its sub-departments")

// parents maps each department's id to its parent's ("" at the top).
func parents(all []Department) map[string]string {
	p := make(map[string]string, len(all))
	for _, d := range all {
		p[d.ID] = d.ParentID
	}
	return p
}

// ancestry returns the departments from parentID up to the top, for moving
// department id under parentID: errNoParent when parentID is no
// department, errCycle when id is among them (a move under itself or one
// of its sub-departments). A tree that already holds a cycle (it cannot,
// but a walk must end) is reported as one.
func ancestry(parents map[string]string, id, parentID string) ([]string, error) {
	if _, ok := parents[parentID]; !ok {
		return nil, errNoParent
	}
	var up []string
	for a := parentID; a != ""; a = parents[a] {
		if a == id || len(up) > len(parents) {
			return nil, errCycle
		}
		up = append(up, a)
	}
	return up, nil
}

// DeleteDepartment removes an empty department: one with members or
// sub-departments is a 409 (the counts are checked in the write).
func (s *Service) DeleteDepartment(ctx context.Context, tenantID, id string) error {
	return retry(ctx, func() error {
		res, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.table(), Key: key(tenantID, DepartmentSK(id)), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return errs.Wrap(err, "get department")
		}
		if res.Item == nil {
			return errDepartmentNotFound
		}
		var rec departmentRecord
		if err := attributevalue.UnmarshalMap(res.Item, &rec); err != nil {
			return errs.Wrap(err, "decode department")
		}
		if rec.Members > 0 || rec.Children > 0 {
			return errNotEmpty
		}
		t := &txn{}
		// A failed condition means the department changed since the read
		// (a member joined, a child was added, a rename): read again.
		t.add(errRetry, types.TransactWriteItem{Delete: &types.Delete{
			TableName: s.table(), Key: key(tenantID, DepartmentSK(id)),
			ConditionExpression:       aws.String("version = :v AND (attribute_not_exists(members) OR members = :z) AND (attribute_not_exists(children) OR children = :z)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": avn(rec.Version), ":z": avn(0)},
		}})
		if rec.ParentID != "" {
			t.add(errRetry, s.childDelta(tenantID, rec.ParentID, -1))
		}
		now := s.now()
		ev, err := s.Codec.eventItem(Event{ID: ids.New(now), TenantID: tenantID, Type: EventDepartmentDeleted, DepartmentID: id, ParentIDs: nonEmpty(rec.ParentID), At: now})
		if err != nil {
			return errs.Wrap(err, "encode event")
		}
		t.add(nil, ev)
		if err := s.audited(ctx, t, tenantID, audit.Change{Action: audit.DepartmentDelete, Target: "department/" + id}); err != nil {
			return err
		}
		return t.run(ctx, s.DB)
	})
}
