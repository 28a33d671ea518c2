package wire

import (
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/audit"
	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/idempotency"
	"workbench/shared/lambdahttp"
)

// IdempotentHandler is lambdahttp.Handler for a function with POST routes:
// Idempotency-Key headers are honoured, keys scoped to the member (by the
// access token's tenant and member), to the operator (by its key) or by the
// first of scopes that names the caller (a partner, say). A request with
// none is served without the key; its handler answers 401 or takes no
// credentials at all.
func IdempotentHandler(env *cloud.Env, h http.Handler, members *auth.Members, operator *auth.Operator, scopes ...idempotency.Scope) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("IDEMPOTENCY_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	mw := &idempotency.Middleware{
		Store: &idempotency.DynamoStore{DB: env.DynamoDB, Table: table},
		Scope: func(r *http.Request) string {
			if operator != nil && operator.Check(r) == nil {
				return "operator"
			}
			if members != nil {
				// The signature and times only: the handler's middleware
				// checks the session again before anything is written.
				if p, err := members.Tokens.Verify(auth.BearerToken(r)); err == nil {
					return "tenant/" + p.TenantID + "/member/" + p.MemberID
				}
			}
			for _, scope := range scopes {
				if s := scope(r); s != "" {
					return s
				}
			}
			return ""
		},
		Now: env.Now,
	}
	return lambdahttp.Handler(mw.Wrap(h)), nil
}

// AuditLog is the admin audit log of AUDIT_TABLE, which the domain stores
// append to inside their transactions.
func AuditLog(env *cloud.Env) (*audit.Log, error) {
	c := config.NewReader(env.Config)
	table := c.Required("AUDIT_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	return &audit.Log{DB: env.DynamoDB, Table: table, Now: env.Now}, nil
}
