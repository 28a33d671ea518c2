package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
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
	DB    DB
	Table string // the identity table
	Hash  *Hasher
	Now   func() time.Time

	// What sending needs; Verify uses none of it.
	Tenants        Tenants
	Directory      *directory.Codec // Table and Index only: membership, never personal data
	SMS            sms.Sender
	MobileDailyCap int // DefaultMobileDailyCap when zero
	IPDailyCap     int // DefaultIPDailyCap when zero
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
	return &Codes{DB: db, Table: table, Hash: h, Now: now}, nil
}

type codeRecord struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	Purpose   string `dynamodbav:"purpose"`
	Hash      string `dynamodbav:"codeHash"`
	SentAt    int64  `dynamodbav:"sentAt"`    // epoch ms
	ExpiresAt int64  `dynamodbav:"expiresAt"` // epoch ms
	Tries     int    `dynamodbav:"tries"`
	UsedBy    string `dynamodbav:"usedBy,omitempty"` // set once the code is used
	TTL       int64  `dynamodbav:"ttl"`
}

func (c *Codes) mobileToken(tenantID, mobile string) string {
	return c.Hash.Sum("mobile", tenantID, mobile)[:22]
}

func (c *Codes) key(tenantID, purpose, mobile string) map[string]types.AttributeValue {
	return key(tenantPK(tenantID), "CODE#"+purpose+"#"+c.mobileToken(tenantID, mobile))
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

func (c *Codes) get(ctx context.Context, k map[string]types.AttributeValue) (*codeRecord, error) {
	out, err := c.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.Table), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, errs.Wrap(err, "get code")
	}
	return decodeCode(out.Item)
}

func decodeCode(item map[string]types.AttributeValue) (*codeRecord, error) {
	if item == nil {
		return nil, nil
	}
	var rec codeRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return nil, errs.Wrap(err, "decode code")
	}
	return &rec, nil
}

// countTry records a wrong try on the code that was read, not on one sent
// since.
func (c *Codes) countTry(ctx context.Context, rec *codeRecord) error {
	_, err := c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(c.Table),
		Key:                       key(rec.PK, rec.SK),
		UpdateExpression:          aws.String("ADD tries :one"),
		ConditionExpression:       aws.String("codeHash = :h"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":h": str(rec.Hash)},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "count code try")
	}
	return nil
}

// consumeItems mark the code used, on condition that it is still the one
// checked, unused and alive (of two concurrent uses, one wins; the mark
// names the use, so a retried request can tell its own), and lift the
// resend cooldown: once a code is used, asking for the next one is no
// resend. Both go in one transaction, the code first.
func (c *Codes) consumeItems(rec *codeRecord, use string, now time.Time) []types.TransactWriteItem {
	return []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 aws.String(c.Table),
			Key:                       key(rec.PK, rec.SK),
			UpdateExpression:          aws.String("SET usedBy = :use"),
			ConditionExpression:       aws.String("codeHash = :h AND tries < :max AND attribute_not_exists(usedBy)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(rec.Hash), ":max": num(CodeMaxTries), ":use": str(use)},
		}},
		{Update: &types.Update{
			TableName:                 aws.String(c.Table),
			Key:                       key(rec.PK, cooldownSK(rec.SK)),
			UpdateExpression:          aws.String("REMOVE lastAt SET #ttl = :ttl"),
			ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": num(now.Add(CodeCooldown + time.Hour).Unix())},
		}},
	}
}

// compensate runs undo, a write that puts back what a failed request
// changed, in a context of its own (the request's deadline may be what
// failed it) and a few times: an undo lost to throttling would leave the
// caller's retry refused. A failed condition means there is nothing (left)
// to undo.
func compensate(ctx context.Context, what string, undo func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var err error
	for range 3 {
		if err = undo(ctx); err == nil || dynamo.ConditionFailed(err) {
			return
		}
	}
	slog.WarnContext(ctx, "not undone: "+what, "error", err)
}

// cooldownSK is the sort key of the cooldown item of the code with sort
// key codeSK: both end in "<purpose>#<mobile token>".
func cooldownSK(codeSK string) string { return "COOLDOWN#" + strings.TrimPrefix(codeSK, "CODE#") }

// Verify consumes a code sent to mobile for purpose in the tenant. It
// answers 401 invalid_code (wrong, unknown or used), code_expired or
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
	rec, err := c.get(ctx, c.key(tenantID, purpose, mobile))
	if err != nil {
		return nil, err
	}
	if reason := c.check(rec, tenantID, purpose, mobile, code, c.Now()); reason != "" {
		if reason == reasonInvalidCode && rec != nil {
			if err := c.countTry(ctx, rec); err != nil {
				return nil, err
			}
		}
		return nil, codeError(reason)
	}
	now := c.Now()
	use := ids.New(now)
	undo = func(ctx context.Context) { c.unuse(ctx, rec, use) }
	_, err = c.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: c.consumeItems(rec, use, now)})
	if dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err) {
		again, gerr := c.get(ctx, key(rec.PK, rec.SK))
		switch {
		case gerr != nil:
			return nil, gerr
		case again != nil && again.UsedBy == use:
			return undo, nil // the SDK retried a write that had succeeded
		case again != nil && again.UsedBy == "" && dynamo.Conflicted(err):
			// Not used by anyone: the conflict was with another write
			// (a wrong try counted), and the same request may succeed.
			return nil, errs.Unavailablef("the code could not be checked; try again")
		}
		return nil, codeError(reasonInvalidCode) // used, by a concurrent request
	}
	if err != nil {
		return nil, errs.Wrap(err, "consume code")
	}
	return undo, nil
}

// unuse gives back a code that this request (use) consumed.
func (c *Codes) unuse(ctx context.Context, rec *codeRecord, use string) {
	compensate(ctx, "sms code given back", func(ctx context.Context) error {
		_, err := c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(c.Table), Key: key(rec.PK, rec.SK),
			UpdateExpression:          aws.String("REMOVE usedBy"),
			ConditionExpression:       aws.String("usedBy = :use"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":use": str(use)},
		})
		return err
	})
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
	k := c.key(t.ID, purpose, mobile)
	rec.PK, rec.SK = k["pk"].(*types.AttributeValueMemberS).Value, k["sk"].(*types.AttributeValueMemberS).Value
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return errs.Wrap(err, "encode code")
	}
	// A new code replaces the previous one (and its tries).
	if _, err := c.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.Table), Item: item}); err != nil {
		return errs.Wrap(err, "put code")
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
	out, err := c.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(c.Directory.Table),
		Key:       c.Directory.UniqueKey(tenantID, directory.UniqueMobile, mobile),
	})
	if err != nil {
		return false, errs.Wrap(err, "find member by mobile")
	}
	memberID, err := directory.Holder(out.Item)
	if err != nil || memberID == "" {
		return false, errs.Wrap(err, "find member by mobile")
	}
	if purpose == PurposeLogin {
		// Disabled members get the code too: their login then says why it
		// fails instead of leaving them waiting for an SMS.
		return true, nil
	}
	k := directory.MemberKey(tenantID, memberID)
	read := directory.PrincipalRead(k)
	out, err = c.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(c.Directory.Table), Key: k,
		ProjectionExpression: read.ProjectionExpression, ExpressionAttributeNames: read.ExpressionAttributeNames,
	})
	if err != nil {
		return false, errs.Wrap(err, "read member")
	}
	if out.Item == nil {
		return false, nil
	}
	m, err := directory.DecodePrincipal(out.Item)
	if err != nil {
		return false, errs.Wrap(err, "read member")
	}
	return m.IsEnabledAdmin(), nil
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// limit applies the rate limits in one transaction, so a refused request
// counts nowhere: the resend cooldown per (tenant, purpose, mobile), the
// daily cap per mobile in the tenant and the daily cap per source address
// (across tenants). The counters
// are kept whether or not a code is then sent, so limits say nothing about
// membership.
//
// It returns a function that lifts the cooldown this request set, for a
// request that then fails before a code is sent.
func (c *Codes) limit(ctx context.Context, tenantID, purpose, mobile, ip string, now time.Time) (release func(context.Context), err error) {
	mobileCap, ipCap := c.MobileDailyCap, c.IPDailyCap
	if mobileCap <= 0 {
		mobileCap = DefaultMobileDailyCap
	}
	if ipCap <= 0 {
		ipCap = DefaultIPDailyCap
	}
	if ip == "" {
		ip = "unknown"
	}
	nonce := ids.New(now) // tells this request's own write from another's
	day := now.UTC().Format("2006-01-02")
	nextDay := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	dayTTL := num(nextDay.Add(24 * time.Hour).Unix())
	cool := key(tenantPK(tenantID), cooldownSK("CODE#"+purpose+"#"+c.mobileToken(tenantID, mobile)))
	counter := func(k map[string]types.AttributeValue, cap int) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(c.Table),
			Key:                       k,
			UpdateExpression:          aws.String("ADD n :one SET #ttl = :ttl"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :cap"),
			ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":ttl": dayTTL, ":cap": num(int64(cap))},
		}}
	}
	tx := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                aws.String(c.Table),
			Key:                      cool,
			UpdateExpression:         aws.String("SET lastAt = :now, nonce = :nonce, #ttl = :ttl"),
			ConditionExpression:      aws.String("attribute_not_exists(lastAt) OR lastAt <= :cool"),
			ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": num(now.UnixMilli()), ":cool": num(now.Add(-CodeCooldown).UnixMilli()), ":nonce": str(nonce),
				":ttl": num(now.Add(CodeCooldown + time.Hour).Unix()),
			},
		}},
		counter(key(tenantPK(tenantID), "RATE#mobile#"+c.mobileToken(tenantID, mobile)+"#"+day), mobileCap),
		counter(key("RATE#ip#"+c.Hash.Sum("rate-ip", ip)[:22], day), ipCap),
	}
	release = func(ctx context.Context) {
		compensate(ctx, "sms code cooldown lifted", func(ctx context.Context) error {
			_, err := c.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName: aws.String(c.Table), Key: cool,
				ConditionExpression:       aws.String("nonce = :nonce"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":nonce": str(nonce)},
			})
			return err
		})
	}
	_, err = c.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	switch {
	case err == nil:
		return release, nil
	case dynamo.FailedCondition(err, 0):
		wait := CodeCooldown
		if out, gerr := c.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.Table), Key: cool, ConsistentRead: aws.Bool(true)}); gerr == nil {
			var last struct {
				LastAt int64  `dynamodbav:"lastAt"`
				Nonce  string `dynamodbav:"nonce"`
			}
			if attributevalue.UnmarshalMap(out.Item, &last) == nil && last.Nonce == nonce {
				return release, nil // the SDK retried a write that had succeeded
			}
			if last.LastAt > 0 {
				wait = time.UnixMilli(last.LastAt).Add(CodeCooldown).Sub(now)
			}
		}
		if wait < time.Second {
			wait = time.Second
		}
		e := errs.E(errs.RateLimited, "code_cooldown", "a code was sent to this mobile less than %d seconds ago; wait before asking again", int(CodeCooldown.Seconds()))
		e.RetryAfter = wait
		return nil, e
	case dynamo.FailedCondition(err, 1), dynamo.FailedCondition(err, 2):
		e := errs.E(errs.RateLimited, "daily_limit", "too many codes requested today; try again tomorrow")
		e.RetryAfter = nextDay.Sub(now)
		return nil, e
	case dynamo.Conflicted(err):
		e := errs.E(errs.RateLimited, "code_cooldown", "a code is being sent to this mobile right now")
		e.RetryAfter = CodeCooldown
		return nil, e
	}
	return nil, errs.Wrap(err, "rate limit sms codes")
}
