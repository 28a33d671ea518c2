package cloud_test

import (
	"context"
	"strings"
	"testing"

	"workbench/infra/stacktest"
	"workbench/shared/cloud"
	"workbench/shared/config"
)

// Prefetch reads every secret not read yet in one wait; Secret then finds
// them cached, and problems name the setting.
func TestPrefetchReadsSecretsOnce(t *testing.T) {
	st := stacktest.New(t)
	vars := st.Env("LoginFunction")
	vars["MISSING_SECRET"] = vars["TOKEN_KEY_SECRET"] + "-not-there"
	ctx := context.Background()
	env, err := cloud.Load(ctx, config.Map(vars))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET", "INDEX_KEY_SECRET"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET"} {
		if v, err := env.Secret(ctx, s); err != nil || v == "" {
			t.Errorf("Secret(%s) = %q, %v", s, v, err)
		}
	}
	if err := env.Prefetch(ctx, "TOKEN_KEY_SECRET"); err != nil || env.SecretTrips() != 1 {
		t.Errorf("after reading cached secrets: %v, %d trips, want 1", err, env.SecretTrips())
	}
	if err := env.Prefetch(ctx, "NO_SUCH_SETTING"); err == nil || !strings.Contains(err.Error(), "NO_SUCH_SETTING is required") {
		t.Errorf("unset setting: %v", err)
	}
	if _, err := env.Secret(ctx, "MISSING_SECRET"); err == nil || !strings.Contains(err.Error(), "MISSING_SECRET") {
		t.Errorf("missing secret: %v", err)
	}
}
