package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"workbench/shared/audit"
	"workbench/shared/auth"
	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
	"workbench/shared/sms"
	"workbench/shared/tenant"
)

// Service is the login capability: logins, sessions, a member's own
// password, admin password resets and login logs.
type Service struct {
	Store      Store
	Tenants    Tenants
	Codes      *Codes // verifies login and admin-confirm codes
	Tokens     *auth.Tokens
	RefreshKey *Hasher // keyed hash of refresh tokens
	SMS        sms.Sender
	Now        func() time.Time
	SessionTTL time.Duration // how long a login can be refreshed; DefaultSessionTTL when zero
	Argon2     Argon2Params  // DefaultArgon2 when zero
}

// Store keeps sessions, credentials, lockouts and the login log, and reads
// members (never writing them); DynamoStore is the one there is.
type Store interface {
	// lockAndHolder reads the lockout of an account as typed and who holds
	// the account ("" for no one).
	lockAndHolder(ctx context.Context, tenantID, account string) (*lockRecord, string, error)
	// codeAndHolder reads a login code and who holds the mobile.
	codeAndHolder(ctx context.Context, ref codeRef, mobile string) (*codeRecord, string, error)
	// memberAndCred reads a member (opened) and its credential; either is
	// nil when missing.
	memberAndCred(ctx context.Context, tenantID, memberID string) (*directory.Member, *credRecord, error)
	// members reads members (opened), nil for a missing one.
	members(ctx context.Context, tenantID string, memberIDs ...string) ([]*directory.Member, error)
	// refreshing reads what a refresh checks: the session, where its
	// member stands and the member's credential, nil when missing.
	refreshing(ctx context.Context, tenantID, sessionID, memberID string) (*sessionRecord, *directory.Principal, *credRecord, error)
	// writeAttempt writes what a login attempt changes with its log entry,
	// all or nothing; errCodeGone when its code was used or replaced
	// meanwhile.
	writeAttempt(ctx context.Context, w attemptWrites, log logEntry) error
	// countFailure counts a failed password login against the account
	// with its log entry; concurrent failures all count.
	countFailure(ctx context.Context, tenantID, account string, lock *lockRecord, attemptID string, now time.Time, log logEntry) error
	// logs reads a page of a tenant's login log, newest first; a cursor
	// of another list is invalid_cursor.
	logs(ctx context.Context, tenantID string, f LogFilter) (httpapi.Page[LoginLog], error)
	// rotate moves a session to its next refresh token; errRotated when
	// another request rotated it first.
	rotate(ctx context.Context, r rotation) error
	// revoke ends a session; ending an ended one is fine.
	revoke(ctx context.Context, tenantID, sessionID string, now time.Time) error
	// revokeMemberSessions ends every live session of a member but except.
	revokeMemberSessions(ctx context.Context, tenantID, memberID, except string, now time.Time) error
	// setPassword replaces the credential prev (nil: none yet) with next
	// and clears the session's must-set-password mark.
	setPassword(ctx context.Context, tenantID, sessionID string, next credRecord, prev *credRecord) error
	// resetPassword gives target the credential cred and lifts its
	// lockout, audited with change.
	resetPassword(ctx context.Context, tenantID string, target *directory.Member, cred credRecord, change audit.Change) error
}

// attemptWrites are what a login attempt changes besides its log entry.
type attemptWrites struct {
	// code is the login code read: used by use, or, with use "", a wrong
	// try counted on it.
	code      *codeRecord
	use       string
	now       time.Time
	clearLock *lockRecord    // a success forgets earlier failures
	session   *sessionRecord // the session a success starts
}

// rotation moves a session's refresh token from hash (generation gen) to
// next, remembering the hashes prev.
type rotation struct {
	tenantID, sessionID string
	gen                 int
	hash, next          string
	prev                []string
	now                 time.Time
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

func (s *Service) passwordLogin(ctx context.Context, a attempt, account, password string) (Tokens, error) {
	tid := a.tenant.ID
	a.log.Account = maskAccount(account)
	lock, memberID, err := s.Store.lockAndHolder(ctx, tid, account)
	if err != nil {
		return Tokens{}, err
	}
	if lock != nil && lock.LockedUntil > a.now.UnixMilli() {
		s.failed(ctx, a, "locked", attemptWrites{})
		e := errs.E(errs.Locked, "account_locked", "too many wrong passwords; the account is locked for a while (or log in by SMS code)")
		e.RetryAfter = time.UnixMilli(lock.LockedUntil).Sub(a.now)
		return Tokens{}, e
	}
	var member *directory.Member
	var cred *credRecord
	if memberID != "" {
		member, cred, err = s.Store.memberAndCred(ctx, tid, memberID)
		if err != nil {
			return Tokens{}, err
		}
	}
	if member == nil {
		CheckPassword(dummyHash, password)
		return Tokens{}, s.passwordFailed(ctx, a, account, lock, "invalid_credentials")
	}
	a.log.MemberID = member.ID
	if cred == nil {
		// An account without a password answers like a wrong password, and
		// counts toward the lockout like one: a different answer would tell
		// that the account exists. SMS login says a password must be set.
		CheckPassword(dummyHash, password)
		return Tokens{}, s.passwordFailed(ctx, a, account, lock, "password_not_set")
	}
	if !CheckPassword(cred.Hash, password) {
		return Tokens{}, s.passwordFailed(ctx, a, account, lock, "invalid_credentials")
	}
	if !member.Enabled {
		s.failed(ctx, a, "disabled", attemptWrites{})
		return Tokens{}, errs.E(errs.Forbidden, "account_disabled", "this account has been disabled")
	}
	if a.released() {
		s.failed(ctx, a, "subscription_released", attemptWrites{})
		return Tokens{}, errReleased
	}
	if cred.MustChange && cred.ExpiresAt > 0 && a.now.UnixMilli() >= cred.ExpiresAt {
		s.failed(ctx, a, "password_expired", attemptWrites{})
		return Tokens{}, invalidCredentials(MethodPassword)
	}
	return s.startSession(ctx, a, member, cred.MustChange, attemptWrites{clearLock: lock})
}

// passwordFailed counts a failed password login against the account and
// logs it with reason, the real one, which only admins read.
func (s *Service) passwordFailed(ctx context.Context, a attempt, account string, lock *lockRecord, reason string) error {
	if err := s.Store.countFailure(ctx, a.tenant.ID, account, lock, ids.New(a.now), a.now, a.entry(reason)); err != nil {
		return err
	}
	return invalidCredentials(MethodPassword)
}

// nextLock is the lockout after one more failure at now: failures within
// FailureWindow of the first count together, and MaxFailures of them lock
// the account for LockDuration.
func nextLock(lock *lockRecord, attemptID string, now time.Time) lockRecord {
	next := lockRecord{
		Type: "lock", Attempt: attemptID, Failures: 1, WindowStart: now.UnixMilli(), Version: 1,
		TTL: now.Add(FailureWindow + LockDuration + time.Hour).Unix(),
	}
	if lock != nil {
		next.Version = lock.Version + 1
		if now.Sub(time.UnixMilli(lock.WindowStart)) < FailureWindow {
			next.Failures, next.WindowStart = lock.Failures+1, lock.WindowStart
		}
	}
	if next.Failures >= MaxFailures {
		next.LockedUntil = now.Add(LockDuration).UnixMilli()
	}
	return next
}

func (s *Service) smsLogin(ctx context.Context, a attempt, mobile, code string) (Tokens, error) {
	tid := a.tenant.ID
	a.log.Account = sms.Mask(mobile)
	rec, memberID, err := s.Store.codeAndHolder(ctx, s.Codes.ref(tid, PurposeLogin, mobile), mobile)
	if err != nil {
		return Tokens{}, err
	}
	a.log.MemberID = memberID
	if reason := s.Codes.check(rec, tid, PurposeLogin, mobile, code, a.now); reason != "" {
		var w attemptWrites
		if reason == reasonInvalidCode && rec != nil {
			w.code = rec // a wrong try counts
		}
		err := s.Store.writeAttempt(ctx, w, a.entry(reason))
		if errors.Is(err, errCodeGone) {
			// The code was replaced meanwhile: there is no try to count.
			s.failed(ctx, a, reason, attemptWrites{})
		} else if err != nil {
			return Tokens{}, err
		}
		return Tokens{}, invalidCredentials(MethodSMS)
	}
	var member *directory.Member
	var cred *credRecord
	if memberID != "" {
		if member, cred, err = s.Store.memberAndCred(ctx, tid, memberID); err != nil {
			return Tokens{}, err
		}
	}
	used := attemptWrites{code: rec, use: ids.New(a.now), now: a.now}
	if member == nil {
		s.failed(ctx, a, "invalid_credentials", used)
		return Tokens{}, invalidCredentials(MethodSMS)
	}
	if !member.Enabled {
		s.failed(ctx, a, "disabled", used)
		return Tokens{}, errs.E(errs.Forbidden, "account_disabled", "this account has been disabled")
	}
	if a.released() {
		s.failed(ctx, a, "subscription_released", used)
		return Tokens{}, errReleased
	}
	// SMS login is how a member without a password, or locked out of it,
	// gets in; the password lockout does not apply to it.
	mustSet := cred == nil || cred.MustChange
	out, err := s.startSession(ctx, a, member, mustSet, used)
	if errors.Is(err, errCodeGone) {
		// The code was used by a concurrent login.
		s.failed(ctx, a, reasonInvalidCode, attemptWrites{})
		return Tokens{}, invalidCredentials(MethodSMS)
	}
	return out, err
}

// failed writes what a failed attempt changes with its log entry. The
// attempt is answered the same whether or not they are written: a write
// that fails is logged, not returned.
func (s *Service) failed(ctx context.Context, a attempt, reason string, w attemptWrites) {
	if err := s.Store.writeAttempt(ctx, w, a.entry(reason)); err != nil {
		slog.ErrorContext(ctx, "login log not written", "tenant", a.tenant.ID, "reason", reason, "error", err)
	}
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

// startSession writes the session and the success log, with what else
// the attempt changes (all or nothing), and issues the tokens.
func (s *Service) startSession(ctx context.Context, a attempt, m *directory.Member, mustSet bool, w attemptWrites) (Tokens, error) {
	sid := ids.New(a.now)
	w.session = &sessionRecord{
		Session:         auth.NewSession(sid, a.tenant.ID, a.tenant.Code, m.ID, a.log.Method, a.now, s.sessionTTL()),
		MustSetPassword: mustSet,
	}
	refresh := newRefreshToken(a.tenant.ID, m.ID, sid, 1)
	w.session.Generation, w.session.RefreshHash = 1, s.refreshHash(refresh)
	a.log.MemberID = m.ID
	if err := s.Store.writeAttempt(ctx, w, a.entry("")); err != nil {
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
	sess, member, cred, err := s.Store.refreshing(ctx, p.tenantID, p.sessionID, p.memberID)
	if err != nil {
		return Tokens{}, err
	}
	if sess == nil {
		return Tokens{}, invalidRefresh()
	}
	if sess.MemberID != p.memberID || sess.TenantID != p.tenantID {
		return Tokens{}, invalidRefresh()
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
	next := newRefreshToken(p.tenantID, p.memberID, p.sessionID, p.gen+1)
	prev := append(sess.PrevHashes, h)
	if len(prev) > maxPrevHashes {
		prev = prev[len(prev)-maxPrevHashes:]
	}
	err = s.Store.rotate(ctx, rotation{tenantID: p.tenantID, sessionID: p.sessionID, gen: p.gen, hash: h, next: s.refreshHash(next), prev: prev, now: now})
	if errors.Is(err, errRotated) {
		// The same token was used concurrently: one of the two is a copy.
		return Tokens{}, s.reused(ctx, p, now)
	}
	if err != nil {
		return Tokens{}, err
	}
	access, ttl, err := s.Tokens.Issue(auth.Principal{TenantID: p.tenantID, TenantCode: sess.TenantCode, MemberID: p.memberID, Role: member.Role, SessionID: p.sessionID})
	if err != nil {
		return Tokens{}, errs.Wrap(err, "issue token")
	}
	mustSet := cred == nil || cred.MustChange
	return Tokens{AccessToken: access, RefreshToken: next, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds()), MustSetPassword: mustSet}, nil
}

func (s *Service) reused(ctx context.Context, p refreshParts, now time.Time) error {
	slog.WarnContext(ctx, "refresh token reused; session revoked", "tenant", p.tenantID, "member", p.memberID, "session", p.sessionID)
	if err := s.Store.revoke(ctx, p.tenantID, p.sessionID, now); err != nil {
		return err
	}
	return errs.E(errs.Unauthenticated, "refresh_token_reused", "this refresh token was used before; the session is revoked, log in again")
}

// Logout revokes the caller's session: its access token stops working at
// the next request and its refresh token at once.
func (s *Service) Logout(ctx context.Context, p auth.Principal) error {
	return s.Store.revoke(ctx, p.TenantID, p.SessionID, s.Now())
}
