package stack

import (
	"context"
	"fmt"

	"workbench/shared/cloud"
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
