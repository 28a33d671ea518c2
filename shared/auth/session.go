package auth

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Session is a login: what a refresh token renews and what logout, a
// password reset or disabling the member revokes. It lives in the identity
// table under the tenant's partition.
type Session struct {
	PK          string     `dynamodbav:"pk"`
	SK          string     `dynamodbav:"sk"`
	Type        string     `dynamodbav:"type"`
	ID          string     `dynamodbav:"id"`
	TenantID    string     `dynamodbav:"tenantId"`
	TenantCode  string     `dynamodbav:"tenantCode"`
	MemberID    string     `dynamodbav:"memberId"`
	Method      string     `dynamodbav:"method"` // password or sms
	CreatedAt   time.Time  `dynamodbav:"createdAt"`
	ExpiresAt   time.Time  `dynamodbav:"expiresAt"` // the refresh token's limit
	RevokedAt   *time.Time `dynamodbav:"revokedAt,omitempty"`
	RefreshHash string     `dynamodbav:"refreshHash"` // keyed hash of the current refresh token
	Generation  int        `dynamodbav:"generation"`  // bumped at each rotation
	TTL         int64      `dynamodbav:"ttl"`         // DynamoDB deletes it some time after expiry
}

// SessionKey is the primary key of a session item.
func SessionKey(tenantID, sessionID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: directory.TenantPK(tenantID)},
		"sk": &types.AttributeValueMemberS{Value: "SESSION#" + sessionID},
	}
}

// NewSession fills in a session's keys and expiry.
func NewSession(id, tenantID, tenantCode, memberID, method string, now time.Time, life time.Duration) Session {
	exp := now.Add(life)
	return Session{
		PK: directory.TenantPK(tenantID), SK: "SESSION#" + id, Type: "session",
		ID: id, TenantID: tenantID, TenantCode: tenantCode, MemberID: memberID, Method: method,
		CreatedAt: now, ExpiresAt: exp, TTL: exp.Add(24 * time.Hour).Unix(),
	}
}

// SessionDB is the part of the DynamoDB client the session store uses.
type SessionDB interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// DynamoSessions checks sessions against the identity table, members
// against the directory table and the tenant's subscription against the
// tenants table, in one round trip.
type DynamoSessions struct {
	DB             SessionDB
	IdentityTable  string
	DirectoryTable string
	TenantsTable   string
	Now            func() time.Time
}

var _ SessionChecker = (*DynamoSessions)(nil)

// Put stores a session as it is.
func (s *DynamoSessions) Put(ctx context.Context, sess Session) error {
	item, err := attributevalue.MarshalMap(sess)
	if err != nil {
		return errs.Wrap(err, "encode session")
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.IdentityTable), Item: item})
	return errs.Wrap(err, "put session")
}

// CheckSession implements SessionChecker.
func (s *DynamoSessions) CheckSession(ctx context.Context, p Principal) (Status, error) {
	if s.TenantsTable == "" {
		// Without it the subscription state would go unchecked.
		return Status{}, errs.Wrap(errors.New("DynamoSessions.TenantsTable is not set"), "check session")
	}
	memberKey := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: directory.TenantPK(p.TenantID)},
		"sk": &types.AttributeValueMemberS{Value: directory.MemberSK(p.MemberID)},
	}
	got, err := dynamo.BatchGet(ctx, s.DB, map[string]types.KeysAndAttributes{
		s.IdentityTable: {
			Keys:                 []map[string]types.AttributeValue{SessionKey(p.TenantID, p.SessionID)},
			ProjectionExpression: aws.String("memberId, tenantCode, createdAt, expiresAt, revokedAt"),
		},
		s.DirectoryTable: {
			Keys:                     []map[string]types.AttributeValue{memberKey},
			ProjectionExpression:     aws.String("#r, enabled, departmentIds, sessionsNotBefore"),
			ExpressionAttributeNames: map[string]string{"#r": "role"},
		},
		// Read in the same round trip by the token's code, and used only
		// once the session (keyed by the tenant id) has vouched for it.
		s.TenantsTable: {
			Keys:                 []map[string]types.AttributeValue{billing.Key(p.TenantCode)},
			ProjectionExpression: aws.String(billing.Projection),
		},
	})
	if err != nil {
		return Status{}, errs.Wrap(err, "check session")
	}
	var sess struct {
		MemberID   string     `dynamodbav:"memberId"`
		TenantCode string     `dynamodbav:"tenantCode"`
		CreatedAt  time.Time  `dynamodbav:"createdAt"`
		ExpiresAt  time.Time  `dynamodbav:"expiresAt"`
		RevokedAt  *time.Time `dynamodbav:"revokedAt"`
	}
	var member struct {
		Role          string     `dynamodbav:"role"`
		Enabled       bool       `dynamodbav:"enabled"`
		DepartmentIDs []string   `dynamodbav:"departmentIds"`
		NotBefore     *time.Time `dynamodbav:"sessionsNotBefore"`
	}
	sessions, members := got[s.IdentityTable], got[s.DirectoryTable]
	if len(sessions) != 1 || attributevalue.UnmarshalMap(sessions[0], &sess) != nil ||
		sess.MemberID != p.MemberID || sess.RevokedAt != nil || !s.Now().Before(sess.ExpiresAt) {
		return Status{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	if sess.TenantCode == "" || sess.TenantCode != p.TenantCode {
		// The tenant is the session's: a token whose code claims another
		// tenant would have the subscription gate read that tenant's state.
		return Status{}, errs.E(errs.Unauthenticated, "invalid_token", "the access token is not valid")
	}
	if len(members) != 1 || attributevalue.UnmarshalMap(members[0], &member) != nil {
		return Status{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	if !member.Enabled {
		return Status{}, errs.E(errs.Unauthenticated, "account_disabled", "this account has been disabled")
	}
	if member.NotBefore != nil && !sess.CreatedAt.After(*member.NotBefore) {
		// The member was disabled after this session began.
		return Status{}, errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	var sub map[string]types.AttributeValue
	if subs := got[s.TenantsTable]; len(subs) == 1 {
		sub = subs[0]
	}
	state, err := billing.StateOf(sub, p.TenantID, s.Now())
	if err != nil {
		return Status{}, err
	}
	return Status{Role: member.Role, DepartmentIDs: member.DepartmentIDs, Subscription: state}, nil
}
