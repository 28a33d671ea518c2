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

// TenantPK is a tenant's partition of the identity table: its sessions,
// and beside them identity's credentials, codes, lockouts and login logs.
func TenantPK(tenantID string) string { return "T#" + tenantID }

func sessionSK(sessionID string) string { return "SESSION#" + sessionID }

// SessionKey is the primary key of a session item.
func SessionKey(tenantID, sessionID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: TenantPK(tenantID)},
		"sk": &types.AttributeValueMemberS{Value: sessionSK(sessionID)},
	}
}

// NewSession fills in a session's keys and expiry.
func NewSession(id, tenantID, tenantCode, memberID, method string, now time.Time, life time.Duration) Session {
	exp := now.Add(life)
	return Session{
		PK: TenantPK(tenantID), SK: sessionSK(id), Type: "session",
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

// Valid applies the rules that end a session, the same for a request and
// for a refresh: logged out or revoked, expired, its member gone (m nil)
// or disabled, or disabled since the session began (and enabled again).
func (s Session) Valid(m *directory.Principal, now time.Time) error {
	switch {
	case s.RevokedAt != nil:
		return errSessionEnded
	case !now.Before(s.ExpiresAt):
		return errs.E(errs.Unauthenticated, "session_expired", "this session has expired; log in again")
	case m == nil:
		return errSessionEnded
	case !m.Enabled:
		return errs.E(errs.Unauthenticated, "account_disabled", "this account has been disabled")
	case m.SessionsNotBefore != nil && !s.CreatedAt.After(*m.SessionsNotBefore):
		return errSessionEnded
	}
	return nil
}

var errSessionEnded = errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")

// sessionProjection is what a session check reads of a session item.
const sessionProjection = "memberId, tenantCode, createdAt, expiresAt, revokedAt"

// CheckSession implements SessionChecker.
func (s *DynamoSessions) CheckSession(ctx context.Context, p Principal) (Status, error) {
	if s.TenantsTable == "" {
		// Without it the subscription state would go unchecked.
		return Status{}, errs.Wrap(errors.New("DynamoSessions.TenantsTable is not set"), "check session")
	}
	got, err := dynamo.BatchGet(ctx, s.DB, map[string]types.KeysAndAttributes{
		s.IdentityTable: {
			Keys:                 []map[string]types.AttributeValue{SessionKey(p.TenantID, p.SessionID)},
			ProjectionExpression: aws.String(sessionProjection),
		},
		s.DirectoryTable: directory.PrincipalRead(directory.MemberKey(p.TenantID, p.MemberID)),
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
	sessions, members := got[s.IdentityTable], got[s.DirectoryTable]
	if len(sessions) != 1 {
		return Status{}, errSessionEnded
	}
	var sess Session
	if err := attributevalue.UnmarshalMap(sessions[0], &sess); err != nil {
		return Status{}, errs.Wrap(err, "decode session")
	}
	if sess.MemberID != p.MemberID {
		return Status{}, errSessionEnded
	}
	if sess.TenantCode == "" || sess.TenantCode != p.TenantCode {
		// The tenant is the session's: a token whose code claims another
		// tenant would have the subscription gate read that tenant's state.
		return Status{}, errs.E(errs.Unauthenticated, "invalid_token", "the access token is not valid")
	}
	var member *directory.Principal
	if len(members) == 1 {
		m, err := directory.DecodePrincipal(members[0])
		if err != nil {
			return Status{}, errs.Wrap(err, "check session")
		}
		member = &m
	}
	if err := sess.Valid(member, s.Now()); err != nil {
		return Status{}, err
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
