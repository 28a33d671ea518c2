package stack

import (
	"context"
	"fmt"

	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/keyring"
)

// directoryCodec builds the codec of the directory table from the data-keys
// and index-key secrets named in the function's settings.
func directoryCodec(ctx context.Context, env *cloud.Env, table string) (*directory.Codec, error) {
	data, err := env.Secret(ctx, "DATA_KEYS_SECRET")
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("DATA_KEYS_SECRET: %w", err)
	}
	indexText, err := env.Secret(ctx, "INDEX_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	index, err := keyring.NewIndex(indexText)
	if err != nil {
		return nil, fmt.Errorf("INDEX_KEY_SECRET: %w", err)
	}
	return &directory.Codec{Table: table, Keys: keys, Index: index}, nil
}

// memberAuth builds the middleware that authenticates members: access
// tokens keyed with the token secret, sessions in the identity table,
// member status in the directory table and the tenant's subscription state
// in the tenants table (all three read in one BatchGetItem).
func memberAuth(ctx context.Context, env *cloud.Env) (*auth.Members, error) {
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
