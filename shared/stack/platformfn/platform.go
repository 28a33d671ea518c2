// Package platformfn builds PlatformFunction: health and the operator's
// tenant routes.
package platformfn

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
	"workbench/shared/sms"
	"workbench/shared/stack/wire"
	"workbench/shared/tenant"
)

// Platform serves health and the operator's tenant routes.
func Platform(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	tenantsTable := c.Required("TENANTS_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	loginURL := c.String("LOGIN_URL_TEMPLATE", wire.DefaultLoginURL)
	senderID := c.String("SMS_SENDER_ID", "")
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "OPERATOR_KEY_SECRET"); err != nil {
		return nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	operatorKey, err := env.Secret(ctx, "OPERATOR_KEY_SECRET")
	if err != nil {
		return nil, err
	}

	svc := &tenant.Service{
		Store:    &tenant.DynamoStore{DB: env.DynamoDB, Table: tenantsTable, Directory: codec},
		SMS:      &sms.SNS{Client: env.SNS, SenderID: senderID},
		LoginURL: loginURL,
		Now:      env.Now,
	}
	r := httpapi.NewRouter()
	r.Handle("GET /v1/health", health)
	(&tenant.HTTP{Service: svc, Operator: auth.NewOperator(operatorKey)}).Register(r)
	return lambdahttp.Handler(r), nil
}

func health(w http.ResponseWriter, r *http.Request) error {
	httpapi.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
