// Package memberimportfn builds MemberImportsFunction: uploads, status,
// error reports, the template and the export, with XLSX (package workbook).
// The jobs run in MemberImportJobFunction (package importjobfn).
package memberimportfn

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/cloud"
	"workbench/shared/httpapi"
	"workbench/shared/memberimport"
	"workbench/shared/memberimport/workbook"
	"workbench/shared/stack/importjobfn"
	"workbench/shared/stack/wire"
)

// MemberImports serves the import routes (upload, status, error report,
// template) and the export.
func MemberImports(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	run, err := importjobfn.Runner(ctx, env, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	auditLog, err := wire.AuditLog(env)
	if err != nil {
		return nil, err
	}
	run.Store.Audit = auditLog
	svc := &memberimport.Service{Store: run.Store, Directory: run.Directory, Trigger: run.Trigger, Workbooks: workbook.Books{}, Now: env.Now}
	r := httpapi.NewRouter()
	(&memberimport.HTTP{Service: svc, Auth: members}).Register(r)
	return wire.IdempotentHandler(env, r, members, nil)
}
