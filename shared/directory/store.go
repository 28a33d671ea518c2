package directory

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/shared/audit"
	"workbench/shared/errs"
)

// Store keeps the directory's items; DynamoStore keeps them in the
// directory table. Each write is one transaction with the admin's audit
// entry (change) and, where partner sync follows it, the directory event;
// a write that lost a race answers errRetry, for the service to read again
// and retry.
//
// The Service holds no DynamoDB types: all it reads and writes goes
// through here.
type Store interface {
	// Fields returns the custom field definitions and their version (0:
	// none yet).
	Fields(ctx context.Context, tenantID string) ([]Field, int, error)
	// PutFields writes the definitions, at version prev+1, if they are
	// still at prev.
	PutFields(ctx context.Context, tenantID string, fields []Field, prev int, change audit.Change) error

	// Departments returns every department of the tenant.
	Departments(ctx context.Context, tenantID string) ([]Department, error)
	// Department returns one department, or ok false.
	Department(ctx context.Context, tenantID, id string) (d Department, ok bool, err error)
	// CreateDepartment adds d under its parent (errNoParent when the
	// parent does not exist).
	CreateDepartment(ctx context.Context, d Department, ev Event, change audit.Change) error
	// UpdateDepartment writes d over old (at old.Version). For a move,
	// ancestry is the new parent's line up to the top as the cycle check
	// saw it: each must still be at its version, so that two concurrent
	// moves cannot make a cycle together.
	UpdateDepartment(ctx context.Context, old, d Department, ancestry []Department, ev Event, change audit.Change) error
	// DeleteDepartment removes d if it is still at its version and empty.
	DeleteDepartment(ctx context.Context, d Department, ev Event, change audit.Change) error

	// PrepareMember returns, in one round trip, the custom field
	// definitions with their version and which of accounts are free.
	PrepareMember(ctx context.Context, tenantID string, accounts []string) (defs []Field, version int, free []string, err error)
	// InsertMember adds m with its reservations (errMobileTaken,
	// errAccountTaken), department memberships (errNoDepartment), search
	// tokens, admin set and event, checking the field definitions are at
	// fieldsVersion (-1: not checked), with extra items and the audit
	// entry of change (nil: none).
	InsertMember(ctx context.Context, m Member, fieldsVersion int, extra []Extra, change *audit.Change) error
	// Member returns a member with the search tokens its items carry, or
	// errMemberNotFound.
	Member(ctx context.Context, tenantID, id string) (Member, []string, error)
	// Members returns the members with the given ids, in that order;
	// unknown ids are left out.
	Members(ctx context.Context, tenantID string, ids []string) ([]Member, error)
	// ReplaceMember writes m over old (at old.Version), moving what
	// points at it.
	ReplaceMember(ctx context.Context, old Member, oldTokens []string, m Member, fieldsVersion int, extra []Extra, change audit.Change) error
	// DeleteMember removes old (at its version) with what points at it.
	DeleteMember(ctx context.Context, old Member, oldTokens []string, ev Event, change audit.Change) error
	// ListMembers returns a page of the tenant's members, or of one
	// department's, and the cursor of the next page ("" at the end).
	ListMembers(ctx context.Context, tenantID, departmentID, cursor string, limit int) ([]Member, string, error)
	// Holders returns which members hold unique values of kind: value →
	// member id, absent when free.
	Holders(ctx context.Context, tenantID, kind string, values []string) (map[string]string, error)
	// SearchTokens reads up to limit search items of a searchable form
	// (which the store keeps only as a blind token): member id → rank
	// hint.
	SearchTokens(ctx context.Context, tenantID, form string, limit int) (map[string]int, error)

	// CreateInvitation writes a new invitation.
	CreateInvitation(ctx context.Context, tenantID string, inv Invitation, change audit.Change) error
	// Invitation returns an invitation by code, or ok false.
	Invitation(ctx context.Context, tenantID, code string) (inv Invitation, ok bool, err error)
	// RegisterMember inserts m with one use of invitation code
	// (errInvitationUsedUp when it is used up or expired meanwhile).
	RegisterMember(ctx context.Context, m Member, code string) error
}

// DynamoStore is the Store of the directory table.
type DynamoStore struct {
	DB    DB
	Codec *Codec
	Audit *audit.Log // nil: no audit entries
}

var _ Store = (*DynamoStore)(nil)

// audited adds to t the audit entry of an admin's change: in the same
// transaction, so the change and its entry are written together or not at
// all. A lost race for the tenant's audit chain is a lost race: retry.
func (st *DynamoStore) audited(ctx context.Context, t *txn, tenantID string, c audit.Change) error {
	items, err := st.Audit.Append(ctx, tenantID, c)
	if err != nil {
		return errs.Wrap(err, "audit entry")
	}
	t.add(nil, items...)
	return nil
}

// commit adds the event and the audit entry to t and writes it.
func (st *DynamoStore) commit(ctx context.Context, t *txn, ev Event, change audit.Change) error {
	item, err := st.Codec.eventItem(ev)
	if err != nil {
		return errs.Wrap(err, "encode event")
	}
	t.add(nil, item)
	if err := st.audited(ctx, t, ev.TenantID, change); err != nil {
		return err
	}
	return t.run(ctx, st.DB)
}

// get reads the tenant's item sk (consistently) into rec; ok is false
// when there is none. what names it in errors.
func (st *DynamoStore) get(ctx context.Context, tenantID, sk, what string, rec any) (bool, error) {
	res, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Codec.Table), Key: key(tenantID, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, errs.Wrap(err, "get "+what)
	}
	if res.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, rec); err != nil {
		return false, errs.Wrap(err, "decode "+what)
	}
	return true, nil
}
