// Package directoryfn builds the directory functions: MembersFunction
// (member CRUD) and DirectoryFunction (departments, fields, invitations,
// self-registration, frequent contacts).
package directoryfn

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/audit"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/directory/directoryhttp"
	"workbench/shared/httpapi"
	"workbench/shared/sms"
	"workbench/shared/stack/identityfn"
	"workbench/shared/stack/wire"
	"workbench/shared/tenant"
)

// DefaultInviteURL is the invitation address template when
// INVITE_URL_TEMPLATE is unset.
const DefaultInviteURL = "https://{tenant}.workbench.example.com/join?code={code}"

// directoryService builds the directory service from the function's
// settings, over a DynamoStore that writes admins' changes with their
// entries in log (nil: a function that makes no admin changes). It
// returns the store's codec too, for the frequent contacts.
func directoryService(ctx context.Context, env *cloud.Env, log *audit.Log) (*directory.Service, *directory.Codec, error) {
	c := config.NewReader(env.Config)
	table := c.Required("DIRECTORY_TABLE")
	loginURL := c.String("LOGIN_URL_TEMPLATE", wire.DefaultLoginURL)
	inviteURL := c.String("INVITE_URL_TEMPLATE", DefaultInviteURL)
	senderID := c.String("SMS_SENDER_ID", "")
	if err := c.Err(); err != nil {
		return nil, nil, err
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET"); err != nil {
		return nil, nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, table)
	if err != nil {
		return nil, nil, err
	}
	return &directory.Service{
		Store:    &directory.DynamoStore{DB: env.DynamoDB, Codec: codec, Audit: log},
		SMS:      &sms.SNS{Client: env.SNS, SenderID: senderID},
		LoginURL: loginURL, InviteURL: inviteURL, Now: env.Now,
	}, codec, nil
}

// Contacts builds the frequent-contacts recorder that chat calls (Touch)
// when a member sends a message; the function needs the directory settings
// (DIRECTORY_TABLE, DATA_KEYS_SECRET, INDEX_KEY_SECRET, TOKEN_KEY_SECRET).
func Contacts(ctx context.Context, env *cloud.Env) (*directory.Contacts, error) {
	svc, codec, err := directoryService(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	return contacts(env, svc, codec), nil
}

// contacts is the frequent contacts of svc's members.
func contacts(env *cloud.Env, svc *directory.Service, codec *directory.Codec) *directory.Contacts {
	return &directory.Contacts{Store: &directory.DynamoStore{DB: env.DynamoDB, Codec: codec}, Members: svc, Now: env.Now}
}

// Members serves member CRUD.
func Members(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	log, err := wire.AuditLog(env)
	if err != nil {
		return nil, err
	}
	svc, _, err := directoryService(ctx, env, log)
	if err != nil {
		return nil, err
	}
	auth, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	r := httpapi.NewRouter()
	(&directoryhttp.MembersHTTP{Service: svc, Auth: auth}).Register(r)
	return wire.IdempotentHandler(env, r, auth, nil)
}

// tenantIDs resolves tenant codes for self-registration.
type tenantIDs struct{ store *tenant.DynamoStore }

func (t tenantIDs) TenantID(ctx context.Context, code string) (string, error) {
	tn, err := t.store.Get(ctx, code)
	return tn.ID, err
}

// Directory serves departments, custom fields, invitations,
// self-registration and frequent contacts.
func Directory(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	tenantsTable := c.Required("TENANTS_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	log, err := wire.AuditLog(env)
	if err != nil {
		return nil, err
	}
	svc, codec, err := directoryService(ctx, env, log)
	if err != nil {
		return nil, err
	}
	svc.Tenants = tenantIDs{&tenant.DynamoStore{DB: env.DynamoDB, Table: tenantsTable}}
	// Self-registration verifies "register" codes with identity's verifier.
	if svc.Codes, err = identityfn.SMSCodes(ctx, env); err != nil {
		return nil, err
	}
	auth, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	r := httpapi.NewRouter()
	(&directoryhttp.HTTP{Service: svc, Contacts: contacts(env, svc, codec), Auth: auth}).Register(r)
	(&audit.HTTP{Log: log, Admins: auth}).Register(r)
	return wire.IdempotentHandler(env, r, auth, nil, directoryhttp.RegisterScope)
}
