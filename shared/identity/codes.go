package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
	"workbench/shared/sms"
	"workbench/shared/tenant"
)

// Purposes of SMS codes. A code verifies only for the purpose it was sent
// for.
const (
	PurposeLogin        = "login"
	PurposeRegister     = "register"
	PurposeAdminConfirm = "admin-confirm"
)

// Default daily caps of SMS codes: per mobile within a tenant, and per
// source address across tenants. The per-address cap is generous because
// whole offices share one address behind NAT.
const (
	DefaultMobileDailyCap = 20
	DefaultIPDailyCap     = 500
)

// Codes sends and verifies SMS verification codes. A code is 6 random
// digits, stored only as a keyed hash, valid CodeTTL, single use and dead
// after CodeMaxTries wrong tries. Other capabilities (registration) verify
// codes with Verify; only the sms-codes function sends them.
type Codes struct {
	Store CodeStore
	Hash  *Hasher
	Now   func() time.Time

	// What sending needs; Verify uses none of it.
	Tenants        Tenants
	SMS            sms.Sender
	MobileDailyCap int // DefaultMobileDailyCap when zero
	IPDailyCap     int // DefaultIPDailyCap when zero
}

// CodeStore keeps SMS codes and their rate limits, and tells who holds a
// mobile; DynamoStore is the one there is.
type CodeStore interface {
	// code returns the code item ref names, nil when there is none.
	code(ctx context.Context, ref codeRef) (*codeRecord, error)
	// putCode stores a new code, replacing the previous one and its tries.
	putCode(ctx context.Context, ref codeRef, rec codeRecord) error
	// countTry counts a wrong try on the code read, not on one sent since.
	countTry(ctx context.Context, rec *codeRecord) error
	// consume marks the code used by use (see consumeItems); a code used
	// by a concurrent request is codeError(reasonInvalidCode).
	consume(ctx context.Context, rec *codeRecord, use string, now time.Time) error
	// unuse gives back a code that use consumed.
	unuse(ctx context.Context, rec *codeRecord, use string) error
	// limit applies the rate limits of a code request (see Codes.limit).
	limit(ctx context.Context, l rateLimit) (release func(context.Context) error, err error)
	// holder returns the member holding a unique value, "" for none.
	holder(ctx context.Context, tenantID, kind, value string) (string, error)
	// principal returns where a member stands, nil for no such member.
	principal(ctx context.Context, tenantID, memberID string) (*directory.Principal, error)
}

// NewCodes returns a code verifier over the identity table. secret is the
// text the code-hashing key is derived from (the index-key secret; the
// label LabelCodes keeps the derived key apart from the blind-index key).
func NewCodes(db DB, table, secret string, now func() time.Time) (*Codes, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("identity: the code-hashing secret is shorter than 32 characters")
	}
	h, err := NewHasher(secret, LabelCodes)
	if err != nil {
		return nil, err
	}
	return &Codes{Store: &DynamoStore{DB: db, Table: table}, Hash: h, Now: now}, nil
}

// codeRef names a code: its tenant, its purpose and the keyed token of the
// mobile it was sent to.
type codeRef struct {
	tenantID, purpose, mobileToken string
}

func (c *Codes) ref(tenantID, purpose, mobile string) codeRef {
	return codeRef{tenantID, purpose, c.mobileToken(tenantID, mobile)}
}

func (c *Codes) mobileToken(tenantID, mobile string) string {
	return c.Hash.Sum("mobile", tenantID, mobile)[:22]
}

func (c *Codes) codeHash(tenantID, purpose, mobile, code string) string {
	return c.Hash.Sum("code", tenantID, purpose, mobile, code)
}

func checkPurpose(field, p string) error {
	switch p {
	case PurposeLogin, PurposeRegister, PurposeAdminConfirm:
		return nil
	case "":
		return errs.Invalidf(field, "invalid_purpose", "%s is required: login, register or admin-confirm", field)
	}
	return errs.Invalidf(field, "invalid_purpose", "%s must be login, register or admin-confirm", field)
}

// checkCodeFormat refuses anything but 6 digits before any lookup.
func checkCodeFormat(field, code string) error {
	if code == "" {
		return errs.Invalidf(field, "invalid_code", "%s is required", field)
	}
	if len(code) != 6 {
		return errs.Invalidf(field, "invalid_code", "%s must be 6 digits", field)
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return errs.Invalidf(field, "invalid_code", "%s must be 6 digits", field)
		}
	}
	return nil
}

// Reasons a code does not verify; they are also login-log reasons.
const (
	reasonInvalidCode   = "invalid_code"
	reasonCodeExpired   = "code_expired"
	reasonCodeExhausted = "code_exhausted"
)

// check compares a presented code with the stored record and returns the
// reason it fails, or "".
func (c *Codes) check(rec *codeRecord, tenantID, purpose, mobile, code string, now time.Time) string {
	switch {
	case rec == nil, rec.UsedBy != "":
		return reasonInvalidCode
	case rec.Tries >= CodeMaxTries:
		return reasonCodeExhausted
	case now.UnixMilli() >= rec.ExpiresAt:
		return reasonCodeExpired
	case subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(c.codeHash(tenantID, purpose, mobile, code))) != 1:
		return reasonInvalidCode
	}
	return ""
}

// codeError is a failed verification in a request that is otherwise
// authenticated (an admin's confirmation, a registration): bad input in
// the field code, not a failed login, so a front end does not log anyone out.
func codeError(reason string) error {
	switch reason {
	case reasonCodeExpired:
		return errs.Invalidf("code", reasonCodeExpired, "the verification code has expired; request a new one")
	case reasonCodeExhausted:
		return errs.Invalidf("code", reasonCodeExhausted, "too many wrong tries; request a new verification code")
	}
	return errs.Invalidf("code", reasonInvalidCode, "the verification code is wrong")
}

// compensate runs undo, a write that puts back what a failed request
// changed, in a context of its own (the request's deadline may be what
// failed it) and a few times: an undo lost to throttling would leave the
// caller's retry refused. A failed condition means there is nothing (left)
// to undo, which the store answers as done.
func compensate(ctx context.Context, what string, undo func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var err error
	for range 3 {
		if err = undo(ctx); err == nil {
			return
		}
	}
	slog.WarnContext(ctx, "not undone: "+what, "error", err)
}

// Verify consumes a code sent to mobile for purpose in the tenant. It
// answers 400 invalid_code (wrong, unknown or used), code_expired or
// code_exhausted (CodeMaxTries wrong tries); a wrong try is counted. A code
// verifies once; undo gives it back to a request that then failed.
func (c *Codes) Verify(ctx context.Context, tenantID, mobile, purpose, code string) (undo func(context.Context), err error) {
	mobile, err = directory.NormalizeMobile("mobile", mobile)
	if err != nil {
		return nil, err
	}
	if err := checkPurpose("purpose", purpose); err != nil {
		return nil, err
	}
	if err := checkCodeFormat("code", code); err != nil {
		return nil, err
	}
	rec, err := c.Store.code(ctx, c.ref(tenantID, purpose, mobile))
	if err != nil {
		return nil, err
	}
	if reason := c.check(rec, tenantID, purpose, mobile, code, c.Now()); reason != "" {
		if reason == reasonInvalidCode && rec != nil {
			if err := c.Store.countTry(ctx, rec); err != nil {
				return nil, err
			}
		}
		return nil, codeError(reason)
	}
	now := c.Now()
	use := ids.New(now)
	if err := c.Store.consume(ctx, rec, use, now); err != nil {
		return nil, err
	}
	return func(ctx context.Context) {
		compensate(ctx, "sms code given back", func(ctx context.Context) error { return c.Store.unuse(ctx, rec, use) })
	}, nil
}

// CodeRequest asks for a code to be sent.
type CodeRequest struct {
	Tenant  string `json:"tenant"`
	Mobile  string `json:"mobile"`
	Purpose string `json:"purpose"`
}

// Request sends a code when the purpose allows it: for login only to
// members of the tenant, for admin-confirm only to its enabled admins, for
// register to anyone (registration is by invitation). The caller learns
// nothing of which happened: every well-formed request within the rate
// limits succeeds alike, also for an unknown tenant.
func (c *Codes) Request(ctx context.Context, in CodeRequest) error {
	code, err := tenant.NormalizeCode("tenant", in.Tenant)
	if err != nil {
		return err
	}
	mobile, err := directory.NormalizeMobile("mobile", in.Mobile)
	if err != nil {
		return err
	}
	if err := checkPurpose("purpose", in.Purpose); err != nil {
		return err
	}
	t, err := c.Tenants.Get(ctx, code)
	if errs.KindOf(err) == errs.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	now := c.Now()
	release, err := c.limit(ctx, t.ID, in.Purpose, mobile, httpapi.RequestOf(ctx).SourceIP, now)
	if err != nil {
		return err
	}
	if err := c.send(ctx, t, in.Purpose, mobile, now); err != nil {
		// No code went out: the caller's retry must not meet the cooldown
		// this request set (the daily counters keep counting it).
		release(ctx)
		return err
	}
	return nil
}

// send stores a new code and sends it by SMS, when the purpose allows it.
func (c *Codes) send(ctx context.Context, t tenant.Tenant, purpose, mobile string, now time.Time) error {
	ok, err := c.eligible(ctx, t.ID, purpose, mobile)
	if err != nil || !ok {
		return err
	}
	digits := newCode()
	rec := codeRecord{
		Type: "code", Purpose: purpose, Hash: c.codeHash(t.ID, purpose, mobile, digits),
		SentAt: now.UnixMilli(), ExpiresAt: now.Add(CodeTTL).UnixMilli(), TTL: now.Add(CodeTTL + time.Hour).Unix(),
	}
	if err := c.Store.putCode(ctx, c.ref(t.ID, purpose, mobile), rec); err != nil {
		return err
	}
	if err := c.SMS.Send(ctx, mobile, codeText(t.Name, purpose, digits)); err != nil {
		// Answering differently would tell members from strangers.
		slog.ErrorContext(ctx, "sms code not sent", "tenant", t.ID, "purpose", purpose, "error", err)
	}
	slog.InfoContext(ctx, "sms code requested", "tenant", t.ID, "purpose", purpose)
	return nil
}

func codeText(tenantName, purpose, code string) string {
	what := map[string]string{PurposeLogin: "登录", PurposeRegister: "注册", PurposeAdminConfirm: "管理员操作确认"}[purpose]
	return "【" + tenantName + "】您的" + what + "验证码是 " + code + "，5 分钟内有效。请勿告诉他人。"
}

func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// eligible reports whether a code for purpose may go to mobile.
func (c *Codes) eligible(ctx context.Context, tenantID, purpose, mobile string) (bool, error) {
	if purpose == PurposeRegister {
		return true, nil
	}
	memberID, err := c.Store.holder(ctx, tenantID, directory.UniqueMobile, mobile)
	if err != nil || memberID == "" {
		return false, err
	}
	if purpose == PurposeLogin {
		// Disabled members get the code too: their login then says why it
		// fails instead of leaving them waiting for an SMS.
		return true, nil
	}
	m, err := c.Store.principal(ctx, tenantID, memberID)
	return err == nil && m != nil && m.IsEnabledAdmin(), err
}

// rateLimit is a code request's share of the rate limits: the resend
// cooldown per (tenant, purpose, mobile), the daily cap per mobile in the
// tenant and the daily cap per source address (across tenants).
type rateLimit struct {
	ref              codeRef
	ipToken          string
	mobileCap, ipCap int
	nonce            string // tells this request's own write from another's
	now              time.Time
}

func (l rateLimit) day() string { return l.now.UTC().Format("2006-01-02") }

func (l rateLimit) nextDay() time.Time {
	return l.now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
}

// limit applies the rate limits, all or nothing, so a refused request
// counts nowhere. The counters are kept whether or not a code is then
// sent, so limits say nothing about membership.
//
// It returns a function that lifts the cooldown this request set, for a
// request that then fails before a code is sent.
func (c *Codes) limit(ctx context.Context, tenantID, purpose, mobile, ip string, now time.Time) (release func(context.Context), err error) {
	l := rateLimit{ref: c.ref(tenantID, purpose, mobile), mobileCap: c.MobileDailyCap, ipCap: c.IPDailyCap, nonce: ids.New(now), now: now}
	if l.mobileCap <= 0 {
		l.mobileCap = DefaultMobileDailyCap
	}
	if l.ipCap <= 0 {
		l.ipCap = DefaultIPDailyCap
	}
	if ip == "" {
		ip = "unknown"
	}
	l.ipToken = c.Hash.Sum("rate-ip", ip)[:22]
	lift, err := c.Store.limit(ctx, l)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) { compensate(ctx, "sms code cooldown lifted", lift) }, nil
}

// cooldownError refuses a request within CodeCooldown of the last code.
func cooldownError(wait time.Duration) error {
	e := errs.E(errs.RateLimited, "code_cooldown", "a code was sent to this mobile less than %d seconds ago; wait before asking again", int(CodeCooldown.Seconds()))
	e.RetryAfter = max(wait, time.Second)
	return e
}

// busyError refuses a request racing another for the same mobile.
func busyError() error {
	e := errs.E(errs.RateLimited, "code_cooldown", "a code is being sent to this mobile right now")
	e.RetryAfter = CodeCooldown
	return e
}

// dailyLimitError refuses a request past a daily cap.
func dailyLimitError(l rateLimit) error {
	e := errs.E(errs.RateLimited, "daily_limit", "too many codes requested today; try again tomorrow")
	e.RetryAfter = l.nextDay().Sub(l.now)
	return e
}
