package directory

import "time"

// Event is one change inside a tenant's directory, written in the same
// transaction as the change (an outbox), so that partner sync can deliver
// it and no change is ever lost between the write and the delivery. Events
// of a tenant share the partition "EVENT#<tenant>" and sort by id, which is
// time-ordered.
type Event struct {
	PK           string    `dynamodbav:"pk" json:"-"`
	SK           string    `dynamodbav:"sk" json:"-"`
	ID           string    `dynamodbav:"id" json:"id"`
	TenantID     string    `dynamodbav:"tenantId" json:"tenantId"`
	Type         string    `dynamodbav:"type" json:"type"`
	MemberID     string    `dynamodbav:"memberId,omitempty" json:"memberId,omitempty"`
	DepartmentID string    `dynamodbav:"departmentId,omitempty" json:"departmentId,omitempty"`
	At           time.Time `dynamodbav:"at" json:"at"`
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
