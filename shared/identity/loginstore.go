package identity

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

var _ Store = (*DynamoStore)(nil)

// credRecord is a member's password credential, under "CRED#<member>".
type credRecord struct {
	PK         string    `dynamodbav:"pk"`
	SK         string    `dynamodbav:"sk"`
	Type       string    `dynamodbav:"type"`
	MemberID   string    `dynamodbav:"memberId"`
	Hash       string    `dynamodbav:"hash"`
	MustChange bool      `dynamodbav:"mustChange"`          // a one-time password from an admin reset
	ExpiresAt  int64     `dynamodbav:"expiresAt,omitempty"` // epoch ms; one-time passwords stop working then
	UpdatedAt  time.Time `dynamodbav:"updatedAt"`
	Version    int       `dynamodbav:"version"`
}

// lockRecord counts an account's failed password logins, under
// "LOCK#<blind token of the account typed>".
type lockRecord struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Type        string `dynamodbav:"type"`
	Failures    int    `dynamodbav:"failures"`
	WindowStart int64  `dynamodbav:"windowStart"` // epoch ms of the first failure counted
	LockedUntil int64  `dynamodbav:"lockedUntil"` // epoch ms
	Version     int    `dynamodbav:"version"`
	Attempt     string `dynamodbav:"attempt"` // the failure that wrote it
	TTL         int64  `dynamodbav:"ttl"`
}

// sessionRecord is auth.Session plus what identity keeps on it: the index
// of a member's sessions (revoked together by a password reset), whether the
// login must set a password, and recent refresh-token hashes (reuse of one
// of them revokes the session).
type sessionRecord struct {
	auth.Session
	GSI1PK          string   `dynamodbav:"gsi1pk"`
	GSI1SK          string   `dynamodbav:"gsi1sk"`
	MustSetPassword bool     `dynamodbav:"mustSetPassword"`
	PrevHashes      []string `dynamodbav:"prevHashes,omitempty"`
}

// lockKey keys lockouts by the account as typed (normalised), so unknown
// accounts lock exactly like known ones.
func (s *DynamoStore) lockKey(tenantID, account string) map[string]types.AttributeValue {
	return key(tenantPK(tenantID), "LOCK#"+s.Directory.Token(tenantID, directory.UniqueAccount, account))
}

func (s *DynamoStore) lockAndHolder(ctx context.Context, tenantID, account string) (*lockRecord, string, error) {
	item, holder, err := s.withHolder(ctx, s.lockKey(tenantID, account), tenantID, directory.UniqueAccount, account)
	if err != nil {
		return nil, "", err
	}
	lock, err := decode[lockRecord](item, "lock")
	return lock, holder, err
}

func (s *DynamoStore) codeAndHolder(ctx context.Context, ref codeRef, mobile string) (*codeRecord, string, error) {
	item, holder, err := s.withHolder(ctx, codeKey(ref), ref.tenantID, directory.UniqueMobile, mobile)
	if err != nil {
		return nil, "", err
	}
	rec, err := decodeCode(item)
	return rec, holder, err
}

func (s *DynamoStore) memberAndCred(ctx context.Context, tenantID, memberID string) (*directory.Member, *credRecord, error) {
	memberK, credK := directory.MemberKey(tenantID, memberID), credKey(tenantID, memberID)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {credK}, s.Directory.Table: {memberK}})
	if err != nil {
		return nil, nil, err
	}
	member, err := s.openMember(got.find(memberK))
	if err != nil {
		return nil, nil, err
	}
	cred, err := decode[credRecord](got.find(credK), "credential")
	return member, cred, err
}

func (s *DynamoStore) openMember(item map[string]types.AttributeValue) (*directory.Member, error) {
	if item == nil {
		return nil, nil
	}
	m, err := s.Directory.Member(item)
	if err != nil {
		return nil, errs.Wrap(err, "open member")
	}
	return &m, nil
}

func (s *DynamoStore) members(ctx context.Context, tenantID string, memberIDs ...string) ([]*directory.Member, error) {
	keys := make([]map[string]types.AttributeValue, len(memberIDs))
	for i, id := range memberIDs {
		keys[i] = directory.MemberKey(tenantID, id)
	}
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Directory.Table: keys})
	if err != nil {
		return nil, err
	}
	out := make([]*directory.Member, len(keys))
	for i, k := range keys {
		if out[i], err = s.openMember(got.find(k)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *DynamoStore) refreshing(ctx context.Context, tenantID, sessionID, memberID string) (*sessionRecord, *directory.Principal, *credRecord, error) {
	sessK, credK, memberK := auth.SessionKey(tenantID, sessionID), credKey(tenantID, memberID), directory.MemberKey(tenantID, memberID)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {sessK, credK}, s.Directory.Table: {memberK}})
	if err != nil {
		return nil, nil, nil, err
	}
	sess, err := decode[sessionRecord](got.find(sessK), "session")
	if err != nil {
		return nil, nil, nil, err
	}
	member, err := decodePrincipal(got.find(memberK))
	if err != nil {
		return nil, nil, nil, err
	}
	cred, err := decode[credRecord](got.find(credK), "credential")
	return sess, member, cred, err
}

// errCodeGone is a login whose code was used or replaced meanwhile.
var errCodeGone = errors.New("identity: the code changed meanwhile")

func (s *DynamoStore) writeAttempt(ctx context.Context, w attemptWrites, log logEntry) error {
	var items []types.TransactWriteItem
	switch {
	case w.code != nil && w.use != "":
		items = append(items, consumeItems(s.Table, w.code, w.use, w.now)...)
	case w.code != nil:
		items = append(items, types.TransactWriteItem{Update: countTryItem(s.Table, w.code)})
	}
	if w.clearLock != nil {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.Table), Key: key(w.clearLock.PK, w.clearLock.SK)}})
	}
	if w.session != nil {
		sess := *w.session
		sess.GSI1PK, sess.GSI1SK = sessionsOf(sess.TenantID, sess.MemberID), sess.ID
		item, err := attributevalue.MarshalMap(sess)
		if err != nil {
			return errs.Wrap(err, "encode session")
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}})
	}
	err := s.writeLogged(ctx, items, log)
	switch {
	case err == nil:
		return nil
	case w.session != nil && s.sessionHolds(ctx, w.session.TenantID, w.session.ID, w.session.RefreshHash):
		return nil // the SDK retried a write that had succeeded
	case w.code != nil && dynamo.FailedCondition(err, 0):
		return errCodeGone
	}
	return err
}

// holds reports whether the item at k holds want in attr: whether a
// write that failed (a condition failing on the SDK's retry of a request
// that had in fact succeeded) is there all the same. The values compared
// (a refresh-token hash, a salted password hash) are unguessable, so only
// the write that chose one can have stored it.
func (s *DynamoStore) holds(ctx context.Context, k map[string]types.AttributeValue, attr, want string) bool {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: k, ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#a"), ExpressionAttributeNames: map[string]string{"#a": attr},
	})
	return err == nil && stringAttr(out.Item, attr) == want
}

func (s *DynamoStore) sessionHolds(ctx context.Context, tenantID, sessionID, h string) bool {
	return s.holds(ctx, auth.SessionKey(tenantID, sessionID), "refreshHash", h)
}

func (s *DynamoStore) countFailure(ctx context.Context, tenantID, account string, lock *lockRecord, attemptID string, now time.Time, log logEntry) error {
	k := s.lockKey(tenantID, account)
	for range 3 {
		next := nextLock(lock, attemptID, now)
		next.PK, next.SK = stringAttr(k, "pk"), stringAttr(k, "sk")
		var version *int
		if lock != nil {
			version = &lock.Version
		}
		put, err := s.versionedPut(next, version, "lock")
		if err != nil {
			return err
		}
		err = s.writeLogged(ctx, []types.TransactWriteItem{{Put: put}}, log)
		if err == nil {
			return nil
		}
		if !dynamo.FailedCondition(err, 0) {
			// An uncounted failure would give guesses for free: fail loudly.
			return err
		}
		// Another failure counted first: read it and count on top.
		out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return errs.Wrap(err, "read lock")
		}
		if stringAttr(out.Item, "attempt") == attemptID {
			return nil // a retried request that had been written: counted once
		}
		if lock, err = decode[lockRecord](out.Item, "lock"); err != nil {
			return err
		}
	}
	return nil
}

// errRotated is a refresh that lost the rotation to another request.
var errRotated = errors.New("identity: the refresh token was rotated meanwhile")

func (s *DynamoStore) rotate(ctx context.Context, r rotation) error {
	prev, err := attributevalue.Marshal(r.prev)
	if err != nil {
		return errs.Wrap(err, "encode refresh hashes")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 auth.SessionKey(r.tenantID, r.sessionID),
		UpdateExpression:    aws.String("SET refreshHash = :n, generation = :g1, prevHashes = :prev, refreshedAt = :now"),
		ConditionExpression: aws.String("refreshHash = :h AND generation = :g AND attribute_not_exists(revokedAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": str(r.next), ":g1": num(int64(r.gen + 1)), ":prev": prev, ":now": str(stamp(r.now)),
			":h": str(r.hash), ":g": num(int64(r.gen)),
		},
	})
	switch {
	case err == nil:
		return nil
	case !dynamo.ConditionFailed(err):
		return errs.Wrap(err, "rotate refresh token")
	case s.sessionHolds(ctx, r.tenantID, r.sessionID, r.next):
		return nil // the SDK retried a write that had succeeded
	}
	return errRotated
}

func (s *DynamoStore) revoke(ctx context.Context, tenantID, sessionID string, now time.Time) error {
	at, err := attributevalue.Marshal(now.UTC())
	if err != nil {
		return errs.Wrap(err, "encode revocation")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       auth.SessionKey(tenantID, sessionID),
		UpdateExpression:          aws.String("SET revokedAt = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(revokedAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": at},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "revoke session")
	}
	return nil
}

func (s *DynamoStore) revokeMemberSessions(ctx context.Context, tenantID, memberID, except string, now time.Time) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionsOf(tenantID, memberID))},
	}
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return errs.Wrap(err, "list member sessions")
		}
		for _, item := range out.Items {
			id := stringAttr(item, "id")
			if _, revoked := item["revokedAt"]; revoked || id == except || stringAttr(item, "tenantId") != tenantID {
				continue
			}
			if err := s.revoke(ctx, tenantID, id, now); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// versionedPut writes v on condition that the item it replaces is still
// at version, or, with version nil, that there is none.
func (s *DynamoStore) versionedPut(v any, version *int, what string) (*types.Put, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, errs.Wrap(err, "encode "+what)
	}
	put := &types.Put{TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}
	if version != nil {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(int64(*version))}
	}
	return put, nil
}

func (s *DynamoStore) setPassword(ctx context.Context, tenantID, sessionID string, next credRecord, prev *credRecord) error {
	k := credKey(tenantID, next.MemberID)
	next.PK, next.SK = stringAttr(k, "pk"), stringAttr(k, "sk")
	var version *int
	if prev != nil {
		version = &prev.Version
	}
	put, err := s.versionedPut(next, version, "credential")
	if err != nil {
		return err
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: put},
		{Update: &types.Update{
			TableName: aws.String(s.Table), Key: auth.SessionKey(tenantID, sessionID),
			UpdateExpression:          aws.String("SET mustSetPassword = :f"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}},
		}},
	}})
	if dynamo.FailedCondition(err, 0) && s.holds(ctx, k, "hash", next.Hash) {
		return nil // the SDK retried a write that had succeeded
	}
	switch {
	case dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err):
		return errs.E(errs.Conflict, "password_changed", "the password was changed at the same time; try again")
	case dynamo.FailedCondition(err, 1):
		return errs.E(errs.Unauthenticated, "session_revoked", "this session has ended; log in again")
	}
	return errs.Wrap(err, "set password")
}

func (s *DynamoStore) resetPassword(ctx context.Context, tenantID string, target *directory.Member, cred credRecord, change audit.Change) error {
	k := credKey(tenantID, target.ID)
	cred.PK, cred.SK = stringAttr(k, "pk"), stringAttr(k, "sk")
	item, err := attributevalue.MarshalMap(cred)
	if err != nil {
		return errs.Wrap(err, "encode credential")
	}
	err = s.Audit.Write(ctx, s.DB, tenantID, change,
		types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: item}},
		types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.Table), Key: s.lockKey(tenantID, target.Account)}},
	)
	return errs.Wrap(err, "reset password")
}
