// Package identityfn builds the identity functions: VerifyCodeFunction
// (SMS codes) and LoginFunction (logins, sessions, passwords, login logs).
// SMSCodes is also the register-code check of DirectoryFunction.
package identityfn

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/httpapi"
	"workbench/shared/identity"
	"workbench/shared/lambdahttp"
	"workbench/shared/sms"
	"workbench/shared/stack/wire"
	"workbench/shared/tenant"
)

// SMSCodes builds the SMS-code verifier any function can use to consume a
// code (registration verifies "register" codes with it). It needs the
// settings IDENTITY_TABLE and INDEX_KEY_SECRET: the code-hashing key is
// derived from the index-key secret under its own label
// (identity.LabelCodes), so no extra secret is needed and the key never
// equals the blind-index key. Verifying needs dynamodb:GetItem and
// UpdateItem on the identity table (a consumption is a transaction of
// updates; undo is an update).
func SMSCodes(ctx context.Context, env *cloud.Env) (*identity.Codes, error) {
	c := config.NewReader(env.Config)
	table := c.Required("IDENTITY_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	secret, err := env.Secret(ctx, "INDEX_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	codes, err := identity.NewCodes(env.DynamoDB, table, secret, env.Now)
	if err != nil {
		return nil, fmt.Errorf("INDEX_KEY_SECRET: %w", err)
	}
	return codes, nil
}

// VerifyCode serves POST /v1/auth/sms-codes: it sends SMS verification
// codes. It reads members' unique-value items only, never personal data,
// so it has no data key.
func VerifyCode(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	tenantsTable := c.Required("TENANTS_TABLE")
	identityTable := c.Required("IDENTITY_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	senderID := c.String("SMS_SENDER_ID", "")
	mobileCap := c.Int("SMS_DAILY_LIMIT_PER_MOBILE", identity.DefaultMobileDailyCap)
	ipCap := c.Int("SMS_DAILY_LIMIT_PER_IP", identity.DefaultIPDailyCap)
	if err := c.Err(); err != nil {
		return nil, err
	}
	codes, err := SMSCodes(ctx, env)
	if err != nil {
		return nil, err
	}
	index, err := wire.Index(ctx, env)
	if err != nil {
		return nil, err
	}
	codes.Tenants = &tenant.DynamoStore{DB: env.DynamoDB, Table: tenantsTable}
	codes.Store = &identity.DynamoStore{DB: env.DynamoDB, Table: identityTable, Directory: &directory.Codec{Table: directoryTable, Index: index}}
	codes.SMS = &sms.SNS{Client: env.SNS, SenderID: senderID}
	codes.MobileDailyCap, codes.IPDailyCap = mobileCap, ipCap

	r := httpapi.NewRouter()
	(&identity.CodesHTTP{Codes: codes}).Register(r)
	return lambdahttp.Handler(r), nil
}

// Login serves logins, sessions, the member's own password, admin password
// resets and login logs.
func Login(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	svc, members, err := loginService(ctx, env)
	if err != nil {
		return nil, err
	}
	r := httpapi.NewRouter()
	(&identity.HTTP{Service: svc, Members: members}).Register(r)
	return wire.IdempotentHandler(env, r, members, nil)
}

// loginService builds the login capability from the function's settings;
// the benchmarks build it the same way.
func loginService(ctx context.Context, env *cloud.Env) (*identity.Service, *auth.Members, error) {
	c := config.NewReader(env.Config)
	tenantsTable := c.Required("TENANTS_TABLE")
	identityTable := c.Required("IDENTITY_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	senderID := c.String("SMS_SENDER_ID", "")
	sessionTTL := c.Duration("SESSION_TTL", identity.DefaultSessionTTL)
	if err := c.Err(); err != nil {
		return nil, nil, err
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET"); err != nil {
		return nil, nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, nil, err
	}
	codes, err := SMSCodes(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	tokenKey, err := env.Secret(ctx, "TOKEN_KEY_SECRET")
	if err != nil {
		return nil, nil, err
	}
	refresh, err := identity.NewHasher(tokenKey, identity.LabelRefresh)
	if err != nil {
		return nil, nil, fmt.Errorf("TOKEN_KEY_SECRET: %w", err)
	}
	auditLog, err := wire.AuditLog(env)
	if err != nil {
		return nil, nil, err
	}
	svc := &identity.Service{
		Store:      &identity.DynamoStore{DB: env.DynamoDB, Table: identityTable, Directory: codec, Audit: auditLog},
		Tenants:    &tenant.DynamoStore{DB: env.DynamoDB, Table: tenantsTable},
		Codes:      codes,
		Tokens:     members.Tokens,
		RefreshKey: refresh,
		SMS:        &sms.SNS{Client: env.SNS, SenderID: senderID},
		Now:        env.Now,
		SessionTTL: sessionTTL,
	}
	return svc, members, nil
}
