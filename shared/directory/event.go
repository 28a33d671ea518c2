package directory

import "time"

// Event is one change inside a tenant's directory, written in the same
// transaction as the change (an outbox), so that partner sync can deliver
// it and no change is ever lost between the write and the delivery. Events
// of a tenant share the partition "EVENT#<tenant>" and sort by id, which is
// time-ordered.
type Event struct {
	PK           string `dynamodbav:"pk" json:"-"`
	SK           string `dynamodbav:"sk" json:"-"`
	ID           string `dynamodbav:"id" json:"id"`
	TenantID     string `dynamodbav:"tenantId" json:"tenantId"`
	Type         string `dynamodbav:"type" json:"type"`
	MemberID     string `dynamodbav:"memberId,omitempty" json:"memberId,omitempty"`
	DepartmentID string `dynamodbav:"departmentId,omitempty" json:"departmentId,omitempty"`
	// DepartmentIDs are a member's departments: for member.updated the
	// departments before and after the change (a member leaving a partner's
	// visible scope is still reported), for member.deleted the departments
	// it had.
	DepartmentIDs []string `dynamodbav:"departmentIds,omitempty" json:"departmentIds,omitempty"`
	// ParentID is a department's parent (before and after a move, both
	// appear in ParentIDs).
	ParentIDs []string  `dynamodbav:"parentIds,omitempty" json:"parentIds,omitempty"`
	At        time.Time `dynamodbav:"at" json:"at"`
}

// Event types.
const (
	EventMemberCreated     = "member.created"
	EventMemberUpdated     = "member.updated"
	EventMemberDeleted     = "member.deleted"
	EventDepartmentCreated = "department.created"
	EventDepartmentUpdated = "department.updated"
	EventDepartmentDeleted = "department.deleted"
)
