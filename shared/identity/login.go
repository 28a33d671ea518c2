package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/auth"
	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
	"workbench/shared/sms"
	"workbench/shared/tenant"
)

// Service is the login capability: logins, sessions, a member's own
// password, admin password resets and login logs.
type Service struct {
	DB         DB
	Table      string           // the identity table
	Directory  *directory.Codec // members are read, never written
	Tenants    Tenants
	Codes      *Codes // verifies login and admin-confirm codes
	Tokens     *auth.Tokens
	RefreshKey *Hasher // keyed hash of refresh tokens
	SMS        sms.Sender
	Now        func() time.Time
	SessionTTL time.Duration // how long a login can be refreshed; DefaultSessionTTL when zero
	Argon2     Argon2Params  // DefaultArgon2 when zero
	Audit      *audit.Log    // admin resets are audited (nil: not)
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

func (s *Service) argon2() Argon2Params {
	if s.Argon2.Memory == 0 {
		return DefaultArgon2
	}
	return s.Argon2
}

// Login methods.
const (
	MethodPassword = "password"
	MethodSMS      = "sms"
)

// LoginInput is a login by password (account, password) or by SMS (mobile,
// code).
type LoginInput struct {
	Tenant   string `json:"tenant"`
	Method   string `json:"method"`
	Account  string `json:"account,omitempty"`
	Password string `json:"password,omitempty"`
	Mobile   string `json:"mobile,omitempty"`
	Code     string `json:"code,omitempty"`
}

// Tokens is a successful login or refresh.
type Tokens struct {
	AccessToken     string            `json:"accessToken"`
	RefreshToken    string            `json:"refreshToken"`
	TokenType       string            `json:"tokenType"`
	ExpiresIn       int               `json:"expiresIn"` // seconds the access token lives
	MustSetPassword bool              `json:"mustSetPassword"`
	Member          *directory.Member `json:"member,omitempty"`
}

// maxPasswordBytes bounds what is hashed at all: no valid password is
// longer, and hashing megabytes would be a cheap way to burn CPU.
const maxPasswordBytes = 4 * MaxPasswordRunes

func invalidCredentials(method string) error {
	if method == MethodSMS {
		return errs.E(errs.Unauthenticated, "invalid_credentials", "the mobile number or the code is wrong, or the code has expired")
	}
	return errs.E(errs.Unauthenticated, "invalid_credentials", "the account or the password is wrong")
}

// Login checks the credentials and starts a session. Every attempt past
// input validation is written to the tenant's login log; an unknown tenant
// answers like wrong credentials.
func (s *Service) Login(ctx context.Context, in LoginInput) (Tokens, error) {
	code, err := tenant.NormalizeCode("tenant", in.Tenant)
	if err != nil {
		return Tokens{}, err
	}
	var account, mobile string
	switch in.Method {
	case MethodPassword:
		if account, err = directory.NormalizeAccount("account", in.Account); err != nil {
			return Tokens{}, err
		}
		if in.Password == "" {
			return Tokens{}, errs.Invalidf("password", "invalid_password", "password is required")
		}
		if len(in.Password) > maxPasswordBytes {
			return Tokens{}, errs.Invalidf("password", "password_too_long", "password must be at most %d characters", MaxPasswordRunes)
		}
	case MethodSMS:
		if mobile, err = directory.NormalizeMobile("mobile", in.Mobile); err != nil {
			return Tokens{}, err
		}
		if err := checkCodeFormat("code", in.Code); err != nil {
			return Tokens{}, err
		}
	case "":
		return Tokens{}, errs.Invalidf("method", "invalid_method", "method is required: password or sms")
	default:
		return Tokens{}, errs.Invalidf("method", "invalid_method", "method must be password or sms")
	}
	t, err := s.Tenants.Get(ctx, code)
	if errs.KindOf(err) == errs.NotFound {
		if in.Method == MethodPassword {
			CheckPassword(dummyHash, in.Password)
		}
		return Tokens{}, invalidCredentials(in.Method)
	}
	if err != nil {
		return Tokens{}, err
	}
	req := httpapi.RequestOf(ctx)
	a := attempt{tenant: t, now: s.Now().UTC(), log: LoginLog{Method: in.Method, IP: req.SourceIP, UserAgent: req.UserAgent}}
	if in.Method == MethodPassword {
		return s.passwordLogin(ctx, a, account, in.Password)
	}
	return s.smsLogin(ctx, a, mobile, in.Code)
}

// attempt is one login attempt on its way to the log.
type attempt struct {
	tenant tenant.Tenant
	now    time.Time
	log    LoginLog
}

// released reports whether the tenant's subscription is released: no one
// logs in any more (in retention admins still do, to renew).
func (a attempt) released() bool {
	return a.tenant.Subscription != nil && a.tenant.Subscription.StateAt(a.now) == billing.Released
}

var errReleased = errs.E(errs.Forbidden, "subscription_released", "this enterprise's subscription has ended; ask the platform operator to renew it")

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

// lockKey keys lockouts by the account as typed (normalised), so unknown
// accounts lock exactly like known ones.
func (s *Service) lockKey(tenantID, account string) map[string]types.AttributeValue {
	return key(tenantPK(tenantID), "LOCK#"+s.Directory.Token(tenantID, directory.UniqueAccount, account))
}

func (s *Service) passwordLogin(ctx context.Context, a attempt, account, password string) (Tokens, error) {
	tid := a.tenant.ID
	a.log.Account = maskAccount(account)
	lockK := s.lockKey(tid, account)
	uniqK := s.Directory.UniqueKey(tid, directory.UniqueAccount, account)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {lockK}, s.Directory.Table: {uniqK}})
	if err != nil {
		return Tokens{}, err
	}
	lock, err := decode[lockRecord](got.find(lockK), "lock")
	if err != nil {
		return Tokens{}, err
	}
	if lock != nil && lock.LockedUntil > a.now.UnixMilli() {
		s.logFailure(ctx, a, "locked", nil)
		e := errs.E(errs.Locked, "account_locked", "too many wrong passwords; the account is locked for a while (or log in by SMS code)")
		e.RetryAfter = time.UnixMilli(lock.LockedUntil).Sub(a.now)
		return Tokens{}, e
	}
	var member *directory.Member
	var cred *credRecord
	memberID, err := directory.Holder(got.find(uniqK))
	if err != nil {
		return Tokens{}, errs.Wrap(err, "find account")
	}
	if memberID != "" {
		member, cred, err = s.memberAndCred(ctx, tid, memberID)
		if err != nil {
			return Tokens{}, err
		}
	}
	if member == nil {
		CheckPassword(dummyHash, password)
		return Tokens{}, s.passwordFailed(ctx, a, lockK, lock, "invalid_credentials")
	}
	a.log.MemberID = member.ID
	if cred == nil {
		// An account without a password answers like a wrong password, and
		// counts toward the lockout like one: a different answer would tell
		// that the account exists. SMS login says a password must be set.
		CheckPassword(dummyHash, password)
		return Tokens{}, s.passwordFailed(ctx, a, lockK, lock, "password_not_set")
	}
	if !CheckPassword(cred.Hash, password) {
		return Tokens{}, s.passwordFailed(ctx, a, lockK, lock, "invalid_credentials")
	}
	if !member.Enabled {
		s.logFailure(ctx, a, "disabled", nil)
		return Tokens{}, errs.E(errs.Forbidden, "account_disabled", "this account has been disabled")
	}
	if a.released() {
		s.logFailure(ctx, a, "subscription_released", nil)
		return Tokens{}, errReleased
	}
	if cred.MustChange && cred.ExpiresAt > 0 && a.now.UnixMilli() >= cred.ExpiresAt {
		s.logFailure(ctx, a, "password_expired", nil)
		return Tokens{}, invalidCredentials(MethodPassword)
	}
	var extra []types.TransactWriteItem
	if lock != nil {
		// A success forgets earlier failures.
		extra = append(extra, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.Table), Key: lockK}})
	}
	return s.startSession(ctx, a, member, cred.MustChange, extra)
}

// passwordFailed counts a failed password login against the account and
// logs it with reason, the real one, which only admins read. The lock item
// is written on condition of the version read, so concurrent failures all
// count.
func (s *Service) passwordFailed(ctx context.Context, a attempt, lockK map[string]types.AttributeValue, lock *lockRecord, reason string) error {
	attemptID := ids.New(a.now)
	for try := 0; try < 3; try++ {
		next := lockRecord{
			PK: stringAttr(lockK, "pk"), SK: stringAttr(lockK, "sk"), Type: "lock", Attempt: attemptID,
			Failures: 1, WindowStart: a.now.UnixMilli(), Version: 1,
			TTL: a.now.Add(FailureWindow + LockDuration + time.Hour).Unix(),
		}
		cond, vals := aws.String("attribute_not_exists(pk)"), map[string]types.AttributeValue(nil)
		if lock != nil {
			next.Version = lock.Version + 1
			if a.now.Sub(time.UnixMilli(lock.WindowStart)) < FailureWindow {
				next.Failures, next.WindowStart = lock.Failures+1, lock.WindowStart
			}
			cond, vals = aws.String("version = :v"), map[string]types.AttributeValue{":v": num(int64(lock.Version))}
		}
		if next.Failures >= MaxFailures {
			next.LockedUntil = a.now.Add(LockDuration).UnixMilli()
		}
		item, err := attributevalue.MarshalMap(next)
		if err != nil {
			return errs.Wrap(err, "encode lock")
		}
		put := types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: item, ConditionExpression: cond, ExpressionAttributeValues: vals}}
		err = s.writeLog(ctx, a, reason, []types.TransactWriteItem{put})
		if err != nil && !dynamo.FailedCondition(err, 0) {
			// An uncounted failure would give guesses for free: fail loudly.
			return err
		}
		if err == nil {
			break
		}
		// Another failure counted first: read it and count on top.
		out, gerr := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: lockK, ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return errs.Wrap(gerr, "read lock") // uncounted: fail loudly, as above
		}
		if stringAttr(out.Item, "attempt") == attemptID {
			break // a retried request that had been written: counted once
		}
		if lock, err = decode[lockRecord](out.Item, "lock"); err != nil {
			return err
		}
	}
	return invalidCredentials(MethodPassword)
}

func (s *Service) smsLogin(ctx context.Context, a attempt, mobile, code string) (Tokens, error) {
	tid := a.tenant.ID
	a.log.Account = sms.Mask(mobile)
	codeK := codeKey(s.Codes.ref(tid, PurposeLogin, mobile))
	uniqK := s.Directory.UniqueKey(tid, directory.UniqueMobile, mobile)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {codeK}, s.Directory.Table: {uniqK}})
	if err != nil {
		return Tokens{}, err
	}
	rec, err := decodeCode(got.find(codeK))
	if err != nil {
		return Tokens{}, err
	}
	memberID, err := directory.Holder(got.find(uniqK))
	if err != nil {
		return Tokens{}, errs.Wrap(err, "find mobile")
	}
	a.log.MemberID = memberID
	if reason := s.Codes.check(rec, tid, PurposeLogin, mobile, code, a.now); reason != "" {
		var extra []types.TransactWriteItem
		if reason == reasonInvalidCode && rec != nil {
			extra = append(extra, types.TransactWriteItem{Update: countTryItem(s.Table, rec)})
		}
		if err := s.writeLog(ctx, a, reason, extra); err != nil {
			if len(extra) == 0 || !dynamo.FailedCondition(err, 0) {
				return Tokens{}, err
			}
			// The code was replaced meanwhile: there is no try to count.
			s.logFailure(ctx, a, reason, nil)
		}
		return Tokens{}, invalidCredentials(MethodSMS)
	}
	var member *directory.Member
	var cred *credRecord
	if memberID != "" {
		if member, cred, err = s.memberAndCred(ctx, tid, memberID); err != nil {
			return Tokens{}, err
		}
	}
	if member == nil {
		s.logFailure(ctx, a, "invalid_credentials", consumeItems(s.Table, rec, ids.New(a.now), a.now))
		return Tokens{}, invalidCredentials(MethodSMS)
	}
	if !member.Enabled {
		s.logFailure(ctx, a, "disabled", consumeItems(s.Table, rec, ids.New(a.now), a.now))
		return Tokens{}, errs.E(errs.Forbidden, "account_disabled", "this account has been disabled")
	}
	if a.released() {
		s.logFailure(ctx, a, "subscription_released", consumeItems(s.Table, rec, ids.New(a.now), a.now))
		return Tokens{}, errReleased
	}
	// SMS login is how a member without a password, or locked out of it,
	// gets in; the password lockout does not apply to it.
	mustSet := cred == nil || cred.MustChange
	out, err := s.startSession(ctx, a, member, mustSet, consumeItems(s.Table, rec, ids.New(a.now), a.now))
	if dynamo.FailedCondition(err, 0) {
		// The code was used by a concurrent login.
		s.logFailure(ctx, a, reasonInvalidCode, nil)
		return Tokens{}, invalidCredentials(MethodSMS)
	}
	return out, err
}

// memberAndCred reads a member (opened) and its credential in one round
// trip. A missing member is nil.
func (s *Service) memberAndCred(ctx context.Context, tenantID, memberID string) (*directory.Member, *credRecord, error) {
	memberK, credK := s.Directory.Key(tenantID, memberID), credKey(tenantID, memberID)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {credK}, s.Directory.Table: {memberK}})
	if err != nil {
		return nil, nil, err
	}
	var member *directory.Member
	if item := got.find(memberK); item != nil {
		m, err := s.Directory.Member(item)
		if err != nil {
			return nil, nil, errs.Wrap(err, "open member")
		}
		member = &m
	}
	cred, err := decodeCred(got.find(credK))
	return member, cred, err
}

// decodePrincipal decodes where a member stands; a missing member is nil.
func decodePrincipal(item map[string]types.AttributeValue) (*directory.Principal, error) {
	if item == nil {
		return nil, nil
	}
	m, err := directory.DecodePrincipal(item)
	if err != nil {
		return nil, errs.Wrap(err, "read member")
	}
	return &m, nil
}

func decodeCred(item map[string]types.AttributeValue) (*credRecord, error) {
	return decode[credRecord](item, "credential")
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

// maxPrevHashes bounds the refresh-token hashes a session remembers for
// reuse detection.
const maxPrevHashes = 16

// refreshToken is "<tenant>.<member>.<session>.<generation>.<secret>": the
// ids let a refresh read everything in one round trip; only the keyed hash
// of the whole token is stored.
func newRefreshToken(tenantID, memberID, sessionID string, gen int) string {
	var b [32]byte
	rand.Read(b[:])
	return tenantID + "." + memberID + "." + sessionID + "." + strconv.Itoa(gen) + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

type refreshParts struct {
	tenantID, memberID, sessionID string
	gen                           int
}

func parseRefreshToken(token string) (refreshParts, bool) {
	p := strings.Split(token, ".")
	if len(p) != 5 || p[0] == "" || p[1] == "" || p[2] == "" || len(p[4]) != 43 {
		return refreshParts{}, false
	}
	gen, err := strconv.Atoi(p[3])
	if err != nil || gen < 1 {
		return refreshParts{}, false
	}
	return refreshParts{p[0], p[1], p[2], gen}, true
}

func (s *Service) refreshHash(token string) string { return s.RefreshKey.Sum("refresh", token) }

// startSession writes the session and the success log (with extra items,
// all or nothing) and issues the tokens.
func (s *Service) startSession(ctx context.Context, a attempt, m *directory.Member, mustSet bool, extra []types.TransactWriteItem) (Tokens, error) {
	sid := ids.New(a.now)
	sess := sessionRecord{
		Session: auth.NewSession(sid, a.tenant.ID, a.tenant.Code, m.ID, a.log.Method, a.now, s.sessionTTL()),
		GSI1PK:  sessionsOf(a.tenant.ID, m.ID), GSI1SK: sid, MustSetPassword: mustSet,
	}
	refresh := newRefreshToken(a.tenant.ID, m.ID, sid, 1)
	sess.Generation, sess.RefreshHash = 1, s.refreshHash(refresh)
	item, err := attributevalue.MarshalMap(sess)
	if err != nil {
		return Tokens{}, errs.Wrap(err, "encode session")
	}
	put := types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}}
	a.log.MemberID = m.ID
	if err := s.writeLog(ctx, a, "", append(extra, put)); err != nil && !s.sessionWritten(ctx, a.tenant.ID, sid, sess.RefreshHash) {
		return Tokens{}, err
	}
	access, ttl, err := s.Tokens.Issue(auth.Principal{TenantID: a.tenant.ID, TenantCode: a.tenant.Code, MemberID: m.ID, Role: m.Role, SessionID: sid})
	if err != nil {
		return Tokens{}, errs.Wrap(err, "issue token")
	}
	slog.InfoContext(ctx, "login", "tenant", a.tenant.ID, "member", m.ID, "method", a.log.Method, "session", sid)
	return Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds()), MustSetPassword: mustSet, Member: m}, nil
}

// RefreshInput carries a refresh token.
type RefreshInput struct {
	RefreshToken string `json:"refreshToken"`
}

func invalidRefresh() error {
	return errs.E(errs.Unauthenticated, "invalid_refresh_token", "the refresh token is not valid; log in again")
}

// Refresh trades a refresh token for a new pair. The old token stops
// working; presenting it again (a stolen copy, or the thief's after the
// owner refreshed) revokes the whole session.
func (s *Service) Refresh(ctx context.Context, in RefreshInput) (Tokens, error) {
	if in.RefreshToken == "" {
		return Tokens{}, errs.Invalidf("refreshToken", "invalid_refresh_token", "refreshToken is required")
	}
	p, ok := parseRefreshToken(in.RefreshToken)
	if !ok {
		return Tokens{}, invalidRefresh()
	}
	now := s.Now().UTC()
	sessK, credK, memberK := auth.SessionKey(p.tenantID, p.sessionID), credKey(p.tenantID, p.memberID), directory.MemberKey(p.tenantID, p.memberID)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {sessK, credK}, s.Directory.Table: {memberK}})
	if err != nil {
		return Tokens{}, err
	}
	item := got.find(sessK)
	if item == nil {
		return Tokens{}, invalidRefresh()
	}
	var sess sessionRecord
	if err := attributevalue.UnmarshalMap(item, &sess); err != nil {
		return Tokens{}, errs.Wrap(err, "decode session")
	}
	if sess.MemberID != p.memberID || sess.TenantID != p.tenantID {
		return Tokens{}, invalidRefresh()
	}
	member, err := decodePrincipal(got.find(memberK))
	if err != nil {
		return Tokens{}, err
	}
	// The rules come before the token's own checks, as in the middleware:
	// an ended session says so whatever token is presented.
	if err := sess.Valid(member, now); err != nil {
		return Tokens{}, err
	}
	h := s.refreshHash(in.RefreshToken)
	if p.gen != sess.Generation || subtle.ConstantTimeCompare([]byte(h), []byte(sess.RefreshHash)) != 1 {
		for _, old := range sess.PrevHashes {
			if subtle.ConstantTimeCompare([]byte(h), []byte(old)) == 1 {
				return Tokens{}, s.reused(ctx, p, now)
			}
		}
		return Tokens{}, invalidRefresh()
	}
	cred, err := decodeCred(got.find(credK))
	if err != nil {
		return Tokens{}, err
	}
	next := newRefreshToken(p.tenantID, p.memberID, p.sessionID, p.gen+1)
	prev := append(sess.PrevHashes, h)
	if len(prev) > maxPrevHashes {
		prev = prev[len(prev)-maxPrevHashes:]
	}
	prevAV, _ := attributevalue.Marshal(prev)
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 sessK,
		UpdateExpression:    aws.String("SET refreshHash = :n, generation = :g1, prevHashes = :prev, refreshedAt = :now"),
		ConditionExpression: aws.String("refreshHash = :h AND generation = :g AND attribute_not_exists(revokedAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": str(s.refreshHash(next)), ":g1": num(int64(p.gen + 1)), ":prev": prevAV, ":now": str(stamp(now)),
			":h": str(h), ":g": num(int64(p.gen)),
		},
	})
	if dynamo.ConditionFailed(err) && !s.sessionWritten(ctx, p.tenantID, p.sessionID, s.refreshHash(next)) {
		// The same token was used concurrently: one of the two is a copy.
		return Tokens{}, s.reused(ctx, p, now)
	}
	if err != nil && !dynamo.ConditionFailed(err) {
		return Tokens{}, errs.Wrap(err, "rotate refresh token")
	}
	access, ttl, err := s.Tokens.Issue(auth.Principal{TenantID: p.tenantID, TenantCode: sess.TenantCode, MemberID: p.memberID, Role: member.Role, SessionID: p.sessionID})
	if err != nil {
		return Tokens{}, errs.Wrap(err, "issue token")
	}
	mustSet := cred == nil || cred.MustChange
	return Tokens{AccessToken: access, RefreshToken: next, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds()), MustSetPassword: mustSet}, nil
}

// sessionWritten reports whether a session holds the refresh-token hash h:
// whether a write that failed (a condition failing on the SDK's retry of a
// request that had in fact succeeded) is there all the same. The hash is
// unguessable, so only the write that chose it can have stored it.
func (s *Service) sessionWritten(ctx context.Context, tenantID, sessionID, h string) bool {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: auth.SessionKey(tenantID, sessionID),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("refreshHash"),
	})
	return err == nil && stringAttr(out.Item, "refreshHash") == h
}

func (s *Service) reused(ctx context.Context, p refreshParts, now time.Time) error {
	slog.WarnContext(ctx, "refresh token reused; session revoked", "tenant", p.tenantID, "member", p.memberID, "session", p.sessionID)
	if err := s.revoke(ctx, p.tenantID, p.sessionID, now); err != nil {
		return err
	}
	return errs.E(errs.Unauthenticated, "refresh_token_reused", "this refresh token was used before; the session is revoked, log in again")
}

// revoke ends a session; ending an ended one is fine.
func (s *Service) revoke(ctx context.Context, tenantID, sessionID string, now time.Time) error {
	_, err := s.DB.UpdateItem(ctx, s.revokeInput(tenantID, sessionID, now))
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "revoke session")
	}
	return nil
}

func (s *Service) revokeInput(tenantID, sessionID string, now time.Time) *dynamodb.UpdateItemInput {
	at, _ := attributevalue.Marshal(now.UTC())
	return &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       auth.SessionKey(tenantID, sessionID),
		UpdateExpression:          aws.String("SET revokedAt = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(revokedAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": at},
	}
}

// Logout revokes the caller's session: its access token stops working at
// the next request and its refresh token at once.
func (s *Service) Logout(ctx context.Context, p auth.Principal) error {
	return s.revoke(ctx, p.TenantID, p.SessionID, s.Now())
}

// batchGot is a BatchGetItem answer, found by key.
type batchGot map[string][]map[string]types.AttributeValue

func (g batchGot) find(k map[string]types.AttributeValue) map[string]types.AttributeValue {
	pk, sk := stringAttr(k, "pk"), stringAttr(k, "sk")
	for _, items := range g {
		for _, it := range items {
			if stringAttr(it, "pk") == pk && stringAttr(it, "sk") == sk {
				return it
			}
		}
	}
	return nil
}

// batchGet reads a few items of the identity and directory tables in one
// round trip (retrying what DynamoDB leaves unprocessed). Keys are
// distinct across tables, since their sort keys differ in kind.
func (s *Service) batchGet(ctx context.Context, keys map[string][]map[string]types.AttributeValue) (batchGot, error) {
	req := map[string]types.KeysAndAttributes{}
	for table, ks := range keys {
		req[table] = types.KeysAndAttributes{Keys: ks, ConsistentRead: aws.Bool(true)}
	}
	got, err := dynamo.BatchGet(ctx, s.DB, req)
	return batchGot(got), err
}
