// Package wire is what the builders of the functions share: the Builder
// type, Start (a function's main), and the parts several functions are
// built from (member authentication, the directory codec).
//
// It imports no domain beyond those parts, so a function's binary links
// only its own domain: see workbench/shared/stack for the layout.
package wire

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/keyring"
	"workbench/shared/logging"
)

// Builder builds one function's handler from its environment. It runs once
// per cold start, and reads all of the function's secrets first, with one
// env.Prefetch: the budget is one AWS round trip per cold start.
type Builder func(ctx context.Context, env *cloud.Env) (lambda.Handler, error)

// DefaultLoginURL is the login address template when LOGIN_URL_TEMPLATE is
// unset.
const DefaultLoginURL = "https://{tenant}.workbench.example.com/login"

// Start is a function's main: JSON logs on stdout, the cloud environment
// from the process environment, the handler from build, then the Lambda
// runtime loop. A function that cannot start exits, so Lambda reports the
// failed cold start.
func Start(build Builder) {
	ctx := context.Background()
	logging.Setup(os.Stdout)
	env, err := cloud.Load(ctx, config.Env())
	if err != nil {
		fail(err)
	}
	h, err := build(ctx, env)
	if err != nil {
		fail(err)
	}
	lambda.Start(h)
}

func fail(err error) {
	slog.Error("cold start failed", "error", err)
	os.Exit(1)
}

// DirectoryCodec builds the codec of the directory table from the data-keys
// and index-key secrets named in the function's settings.
func DirectoryCodec(ctx context.Context, env *cloud.Env, table string) (*directory.Codec, error) {
	data, err := env.Secret(ctx, "DATA_KEYS_SECRET")
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("DATA_KEYS_SECRET: %w", err)
	}
	index, err := Index(ctx, env)
	if err != nil {
		return nil, err
	}
	return &directory.Codec{Table: table, Keys: keys, Index: index}, nil
}

// Index builds the blind-index key from the index-key secret.
func Index(ctx context.Context, env *cloud.Env) (*keyring.Index, error) {
	text, err := env.Secret(ctx, "INDEX_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	index, err := keyring.NewIndex(text)
	if err != nil {
		return nil, fmt.Errorf("INDEX_KEY_SECRET: %w", err)
	}
	return index, nil
}

// MemberAuth builds the middleware that authenticates members: access
// tokens keyed with the token secret, sessions in the identity table,
// member status in the directory table and the tenant's subscription state
// in the tenants table (all three read in one BatchGetItem).
func MemberAuth(ctx context.Context, env *cloud.Env) (*auth.Members, error) {
	c := config.NewReader(env.Config)
	identityTable := c.Required("IDENTITY_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	tenantsTable := c.Required("TENANTS_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	key, err := env.Secret(ctx, "TOKEN_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("TOKEN_KEY_SECRET: the key is shorter than 32 characters")
	}
	return &auth.Members{
		Tokens:   &auth.Tokens{Key: []byte(key), Now: env.Now},
		Sessions: &auth.DynamoSessions{DB: env.DynamoDB, IdentityTable: identityTable, DirectoryTable: directoryTable, TenantsTable: tenantsTable, Now: env.Now},
	}, nil
}
